"""Realistic, deterministic rows for every entity, fast enough for a million deals.

ID spaces (``id_gaps``), drawn by :func:`id_space` from ``random.Random(f"{seed}:{entity}:ids")``;
every space starts at ID 1, so user 1 (the webhook's user) always exists:

* ``uniform``: 1, 2, ..., N.
* ``sparse``: each next ID is the previous one + 1 + g with g uniform in 0..3, and with
  probability 1/1024 a further jump uniform in 100..899. The mean step is about 3: roughly
  one ID in three exists, as on a portal where many rows were deleted.
* ``clustered``: runs of 500..20,000 contiguous IDs (uniform), each followed by a hole of
  10,000..1,000,000 IDs (uniform), as after bulk imports years apart.

Field values come from one 64-bit random number per row (``random.Random(f"{seed}:{entity}")``),
different bits feeding different fields; references (responsible user, company, contact)
point at rows seeded before, so users are seeded first. Creation dates grow with the ID over
four years from 2020-01-01. Columns are built a chunk at a time and inserted with
``executemany`` inside one transaction with the journal off.

A table that already holds rows is not seeded again, so a file store seeded once keeps its
rows across restarts and repeated ``seed`` calls never duplicate.
"""
from __future__ import annotations

import random
import sqlite3
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import seed_crm
from .entities import ENTITIES, SMART_TYPES
from .seed_owned import OWNED, OWNERS, Column

CHUNK = 50_000
T0 = 1_577_826_000  # 2020-01-01T00:00:00+03:00
SPAN = 4 * 365 * 86400
DAY = 86400
OFFSET = 3 * 3600  # the portal's zone, for midnights

FIRST = ("Anna", "Boris", "Clara", "Dmitry", "Elena", "Fyodor", "Galina", "Igor",
         "Julia", "Kirill", "Larisa", "Maxim", "Nina", "Oleg", "Polina", "Roman")
LAST = ("Ivanova", "Petrov", "Smirnova", "Kuznetsov", "Popova", "Sokolov", "Lebedeva",
        "Kozlov", "Novikova", "Morozov", "Volkova", "Orlov", "Belova", "Zaitsev")
FIRMS = ("Aurora", "Vector", "Granit", "Meridian", "Polaris", "Sever", "Orbita", "Kedr",
         "Almaz", "Rassvet", "Titan", "Volna", "Zenit", "Sapfir", "Yantar", "Iskra")
GOODS = ("Server rack", "CRM licences", "Office chairs", "Cloud backup", "Printer lease",
         "Consulting hours", "Laptops", "Support plan")
POSTS = ("Director", "Buyer", "Accountant", "Engineer", "Sales manager", "Lawyer")
CURRENCIES = ("RUB", "USD", "EUR")
SOURCES = ("CALL", "EMAIL", "WEB", "ADVERTISING", "PARTNER", "RECOMMENDATION", "TRADE_SHOW",
           "OTHER")
COMMENTS = (None, None, None, "Call back on Monday", "Asked for a discount",
            "Needs approval from HQ", None, "Sent the proposal")


def id_space(mode: str, n: int, rng: random.Random) -> List[int]:
    """``n`` ascending IDs laid out as ``mode`` says (see the module docstring)."""
    if mode == "uniform":
        return list(range(1, n + 1))
    ids: List[int] = []
    current = 1
    if mode == "sparse":
        for _ in range(n):
            ids.append(current)
            bits = rng.getrandbits(12)
            current += 1 + (bits & 3) + (rng.randrange(100, 900) if bits >> 2 == 0 else 0)
        return ids
    if mode == "clustered":
        while len(ids) < n:
            run = rng.randint(500, 20_000)
            ids.extend(range(current, current + min(run, n - len(ids))))
            current += run + rng.randint(10_000, 1_000_000)
        return ids
    raise ValueError(f"id_gaps must be uniform, sparse or clustered, not {mode!r}")


class Chunk:
    """One slice of rows being generated: their IDs, random words and creation times."""

    def __init__(self, ids: List[int], words: List[int], first: int, total: int,
                 refs: Dict[str, List[int]]) -> None:
        self.ids, self.words, self.refs = ids, words, refs
        self.size = len(ids)
        self.created = [T0 + (first + i) * SPAN // total + h % 3600 for i, h in enumerate(words)]

    def choice(self, pool: Tuple[Any, ...], shift: int) -> Column:
        n = len(pool)
        return [pool[(h >> shift) % n] for h in self.words]

    def ref(self, name: str, shift: int, empty_one_in: int = 0) -> Column:
        """IDs of seeded ``name`` rows; one row in ``empty_one_in`` gets none."""
        found = self.refs.get(name)
        pool: Sequence[Optional[int]] = found if found else (None,)
        n = len(pool)
        if not empty_one_in:
            return [pool[(h >> shift) % n] for h in self.words]
        return [pool[(h >> shift) % n] if (h >> 58) % empty_one_in else None for h in self.words]

    def later(self, shift: int, max_days: int) -> Column:
        return [c + (h >> shift) % (max_days * DAY) for c, h in zip(self.created, self.words)]

    def midnights(self, days_after: int = 0) -> Column:
        return [c - (c + OFFSET) % DAY + days_after * DAY for c in self.created]

    def const(self, value: Any) -> Column:
        return [value] * self.size


def _crm_common(c: Chunk) -> Dict[str, Column]:
    assigned = c.ref("user", 32)
    return {
        "ASSIGNED_BY_ID": assigned, "CREATED_BY_ID": c.ref("user", 36), "MODIFY_BY_ID": assigned,
        "DATE_CREATE": c.created, "DATE_MODIFY": c.later(40, 60), "OPENED": c.const("Y"),
        "COMMENTS": c.choice(COMMENTS, 50), "SOURCE_ID": c.choice(SOURCES, 53),
        "UF_CRM_1700000001": [f"REF-{h % 100000:05d}" if h & 1 else None for h in c.words],
        "UF_CRM_1700000002": [(h >> 24) % 1_000_000 / 100 for h in c.words],
        "UF_CRM_1700000003": c.midnights(14),
    }


def _deal(c: Chunk) -> Dict[str, Column]:
    categories = [(h >> 14) % 4 // 3 for h in c.words]  # one deal in four is in pipeline 1
    stages = c.choice(("NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING",
                       "FINAL_INVOICE", "WON", "LOSE"), 11)
    return {
        **_crm_common(c),
        "TITLE": [f"{GOODS[h % 8]} for {FIRMS[(h >> 3) % 16]} #{i}" for i, h in zip(c.ids, c.words)],
        "TYPE_ID": c.choice(("SALE", "COMPLEX", "GOODS", "SERVICES", "SERVICE"), 8),
        "STAGE_ID": [s if k == 0 else f"C{k}:{s}" for s, k in zip(stages, categories)],
        "CATEGORY_ID": categories, "PROBABILITY": [(h >> 16) % 11 * 10 for h in c.words],
        "OPPORTUNITY": [(h >> 20) % 5_000_000 / 100 for h in c.words],
        "CURRENCY_ID": c.choice(CURRENCIES, 43), "IS_MANUAL_OPPORTUNITY": c.const("N"),
        "COMPANY_ID": c.ref("company", 23, 4), "CONTACT_ID": c.ref("contact", 27, 3),
        "BEGINDATE": c.midnights(), "CLOSEDATE": c.midnights(30),
        "CLOSED": ["Y" if s in ("WON", "LOSE") else "N" for s in stages],
        **seed_crm.deal_user_values(c),
    }


def _person(c: Chunk) -> Dict[str, Column]:
    return {"NAME": c.choice(FIRST, 0), "LAST_NAME": c.choice(LAST, 4),
            "POST": c.choice(POSTS, 9)}


def _lead(c: Chunk) -> Dict[str, Column]:
    statuses = c.choice(("NEW", "IN_PROCESS", "PROCESSED", "JUNK", "CONVERTED"), 12)
    closed = c.later(44, 90)
    return {
        **_crm_common(c), **_person(c),
        "TITLE": [f"Enquiry from {FIRMS[h % 16]} #{i}" for i, h in zip(c.ids, c.words)],
        "COMPANY_TITLE": c.choice(FIRMS, 15), "STATUS_ID": statuses,
        "OPPORTUNITY": [(h >> 20) % 2_000_000 / 100 for h in c.words],
        "CURRENCY_ID": c.choice(CURRENCIES, 43),
        "DATE_CLOSED": [t if s in ("JUNK", "CONVERTED") else None
                        for s, t in zip(statuses, closed)],
    }


def _contact(c: Chunk) -> Dict[str, Column]:
    return {
        **_crm_common(c), **_person(c),
        "TYPE_ID": c.choice(("CLIENT", "SUPPLIER", "PARTNER", "OTHER"), 12),
        "COMPANY_ID": c.ref("company", 23, 3), "EXPORT": c.const("Y"),
        "BIRTHDATE": [T0 - (20 * 365 + h % (30 * 365)) * DAY if h & 2 else None for h in c.words],
    }


def _company(c: Chunk) -> Dict[str, Column]:
    return {
        **_crm_common(c),
        "TITLE": [f"{FIRMS[h % 16]} {('LLC', 'JSC', 'Group', 'Ltd')[(h >> 4) % 4]} #{i}"
                  for i, h in zip(c.ids, c.words)],
        "COMPANY_TYPE": c.choice(("CUSTOMER", "SUPPLIER", "COMPETITOR", "PARTNER", "OTHER"), 8),
        "INDUSTRY": c.choice(("IT", "TELECOM", "MANUFACTURING", "BANKING", "CONSULTING",
                              "DELIVERY", "OTHER"), 11),
        "EMPLOYEES": c.choice(("EMPLOYEES_1", "EMPLOYEES_2", "EMPLOYEES_3", "EMPLOYEES_4"), 14),
        "REVENUE": [(h >> 20) % 100_000_000 / 10 for h in c.words],
        "CURRENCY_ID": c.choice(CURRENCIES, 43),
    }


def _task(c: Chunk) -> Dict[str, Column]:
    statuses = [(2, 2, 3, 3, 4, 5, 5, 6)[(h >> 8) % 8] for h in c.words]
    changed = c.later(40, 30)
    return {
        "TITLE": [f"{('Prepare', 'Review', 'Send', 'Call about')[h % 4]} "
                  f"{GOODS[(h >> 2) % 8].lower()} #{i}" for i, h in zip(c.ids, c.words)],
        "DESCRIPTION": c.choice(COMMENTS, 50), "STATUS": statuses,
        "PRIORITY": [(h >> 12) % 3 for h in c.words], "RESPONSIBLE_ID": c.ref("user", 32),
        "CREATED_BY": c.ref("user", 36), "CREATED_DATE": c.created, "CHANGED_DATE": changed,
        "CLOSED_DATE": [t if s == 5 else None for s, t in zip(statuses, changed)],
        "DEADLINE": c.later(44, 45), "GROUP_ID": [(h >> 16) % 6 for h in c.words],
    }


def _user(c: Chunk) -> Dict[str, Column]:
    first, last = c.choice(FIRST, 0), c.choice(LAST, 4)
    return {
        "ACTIVE": ["Y" if i == 1 or (h >> 8) % 10 else "N" for i, h in zip(c.ids, c.words)],
        "NAME": first, "LAST_NAME": last, "SECOND_NAME": c.const(""),
        "EMAIL": [f"{f}.{s}.{i}@example.com".lower() for f, s, i in zip(first, last, c.ids)],
        "WORK_POSITION": c.choice(POSTS, 12), "WORK_PHONE": c.const(""),
        "PERSONAL_GENDER": [("F" if s.endswith("a") else "M") for s in last],
        "PERSONAL_CITY": c.choice(("Moscow", "Kazan", "Omsk", "Tver"), 16),
        "UF_DEPARTMENT": [1 + (h >> 20) % 5 for h in c.words],
        "UF_PHONE_INNER": [str(100 + i % 900) for i in c.ids], "DATE_REGISTER": c.created,
        "LAST_LOGIN": c.later(24, 700), "IS_ONLINE": c.choice(("N", "N", "N", "Y"), 40),
        "TIME_ZONE": c.const(""), "USER_TYPE": c.const("employee"),
    }


#: generators in seeding order: referenced entities first
COLUMNS: Dict[str, Callable[[Chunk], Dict[str, Column]]] = {
    "user": _user, "company": _company, "contact": _contact, "lead": _lead,
    "deal": _deal, "quote": seed_crm.quote,
    **{e.name: seed_crm.smart(type_id) for type_id, e in SMART_TYPES.items()},
    "task": _task, **OWNED,
}
REFERENCED = ("user", "company", "contact")
#: the entity whose IDs each one refers to, read when that one is seeded
REFERS = {**OWNERS, "quote": "deal"}


def seed_all(db: sqlite3.Connection, counts: Dict[str, int], *, id_gaps: str, seed: int) -> None:
    """Seed each empty table with ``counts[entity]`` rows, in an order that lets
    references point at rows that exist (users, then companies, contacts, ...)."""
    refs: Dict[str, List[int]] = {}
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.execute("PRAGMA journal_mode=OFF")
    try:
        for name in COLUMNS:
            n = counts.get(name, 0)
            if n > 0 and not db.execute(f'SELECT 1 FROM "{name}" LIMIT 1').fetchone():
                owner = REFERS.get(name)
                if owner and owner not in refs:  # deals and tasks are read only when needed
                    refs[owner] = ([row[0] for row in db.execute(f'SELECT "ID" FROM "{owner}"')]
                                   or list(range(1, 1 + max(1, n // 10))))
                _seed_table(db, name, n, id_gaps, seed, refs)
            if name in REFERENCED:
                refs[name] = [row[0] for row in db.execute(f'SELECT "ID" FROM "{name}"')]
        seed_crm.seed_extras(db, seed)
    finally:
        db.execute(f"PRAGMA journal_mode={mode}")


def _seed_table(db: sqlite3.Connection, name: str, n: int, id_gaps: str, seed: int,
                refs: Dict[str, List[int]]) -> None:
    if n <= 0:
        return
    fields = ENTITIES[name].fields
    ids = id_space(id_gaps, n, random.Random(f"{seed}:{name}:ids"))
    rng = random.Random(f"{seed}:{name}")
    # Columns by name: a table kept from an older sandbox has newer fields at its end.
    named = ", ".join(f'"{f.name}"' for f in fields)
    sql = f'INSERT INTO "{name}" ({named}) VALUES ({", ".join("?" * len(fields))})'
    db.execute("BEGIN")
    try:
        for first in range(0, n, CHUNK):
            chunk_ids = ids[first:first + CHUNK]
            chunk = Chunk(chunk_ids, [rng.getrandbits(64) for _ in chunk_ids], first, n, refs)
            columns: Dict[str, Column] = {"ID": list(chunk_ids), **COLUMNS[name](chunk)}
            empty = chunk.const(None)
            db.executemany(sql, zip(*(columns.get(f.name, empty) for f in fields)))
    except BaseException:
        db.execute("ROLLBACK")  # leave the connection usable (rows may remain: no journal)
        raise
    db.execute("COMMIT")
