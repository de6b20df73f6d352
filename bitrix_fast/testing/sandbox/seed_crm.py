"""Seed what a BI mirror reads besides the classic rows: the custom fields of deals, quotes,
smart-process items, the status dictionaries, phones and e-mails, and the product rows of
quotes and smart-process items.

Generators follow :mod:`.seed` (one 64-bit word per row feeds every field; see its
``Chunk``). The dictionaries and the rows that hang off other rows (:func:`seed_extras`)
are added once, when their table is still empty, so a file store seeded twice keeps them.
"""
from __future__ import annotations

import json
import random
import sqlite3
from typing import Any, Dict, List, Sequence, Tuple

from .entities_crm import CHANNELS, INTERESTS, PRIORITIES, SMART_PROCESSES
from .seed_owned import CATALOGUE

CURRENCIES = ("RUB", "USD", "EUR")
DEAL_STAGES = (("NEW", "New", None), ("PREPARATION", "Preparing documents", None),
               ("PREPAYMENT_INVOICE", "Invoice sent", None), ("EXECUTING", "In progress", None),
               ("FINAL_INVOICE", "Final invoice", None), ("WON", "Won", "S"),
               ("LOSE", "Lost", "F"))
SMART_STAGES = (("NEW", "New", None), ("PREPARATION", "Planning", None),
                ("SUCCESS", "Done", "S"), ("FAIL", "Cancelled", "F"))
DEAL_CATEGORIES = ((0, "General"), (1, "Wholesale"))
#: (dictionary, ((code, name), ...)) of the plain status dictionaries
PLAIN = (
    ("STATUS", (("NEW", "Unassigned"), ("IN_PROCESS", "In progress"),
                ("PROCESSED", "Processed"), ("JUNK", "Junk lead"), ("CONVERTED", "Good lead"))),
    ("SOURCE", (("CALL", "Call"), ("EMAIL", "E-mail"), ("WEB", "Website"),
                ("ADVERTISING", "Advertising"), ("PARTNER", "Existing client"),
                ("RECOMMENDATION", "By recommendation"), ("TRADE_SHOW", "Show/Exhibition"),
                ("OTHER", "Other"))),
    ("DEAL_TYPE", (("SALE", "Sales"), ("COMPLEX", "Integrated sale"), ("GOODS", "Sale of goods"),
                   ("SERVICES", "Sale of services"), ("SERVICE", "After-sales service"))),
    ("CONTACT_TYPE", (("CLIENT", "Clients"), ("SUPPLIER", "Suppliers"),
                      ("PARTNER", "Partners"), ("OTHER", "Other"))),
    ("COMPANY_TYPE", (("CUSTOMER", "Client"), ("SUPPLIER", "Supplier"),
                      ("COMPETITOR", "Competitor"), ("PARTNER", "Partner"), ("OTHER", "Other"))),
    ("INDUSTRY", (("IT", "Information Technology"), ("TELECOM", "Telecommunication"),
                  ("MANUFACTURING", "Manufacturing"), ("BANKING", "Banking Services"),
                  ("CONSULTING", "Consulting"), ("DELIVERY", "Delivery"), ("OTHER", "Other"))),
    ("EMPLOYEES", (("EMPLOYEES_1", "less than 50"), ("EMPLOYEES_2", "50-250"),
                   ("EMPLOYEES_3", "250-500"), ("EMPLOYEES_4", "over 500"))),
    ("QUOTE_STATUS", (("DRAFT", "New"), ("SENT", "Sent to client"), ("APPROVED", "Approved"),
                      ("DECLAINED", "Declined"))),
)


def statuses() -> List[Tuple[Any, ...]]:
    """Rows of crm.status.list: (ENTITY_ID, STATUS_ID, NAME, NAME_INIT, SORT, SYSTEM,
    CATEGORY_ID, COLOR, SEMANTICS)."""
    out: List[Tuple[Any, ...]] = []

    def stages(entity: str, prefix: str, category: Any, steps: Sequence[Tuple[str, str, Any]]
               ) -> None:
        for n, (code, name, semantics) in enumerate(steps):
            out.append((entity, prefix + code, name, name, 10 * (n + 1), "Y", category,
                        "#39A8EF" if semantics is None else ("#7BD500" if semantics == "S"
                                                              else "#FF5752"), semantics))

    for category, _ in DEAL_CATEGORIES:  # the default pipeline's stages have no CATEGORY_ID
        stages("DEAL_STAGE" if category == 0 else f"DEAL_STAGE_{category}",
               "" if category == 0 else f"C{category}:", category or None, DEAL_STAGES)
    for type_id, (_, _, categories) in SMART_PROCESSES.items():
        for category, _ in categories:
            stages(f"DYNAMIC_{type_id}_STAGE_{category}", f"DT{type_id}_{category}:", category,
                   SMART_STAGES)
    for entity, codes in PLAIN:
        for n, (code, name) in enumerate(codes):
            out.append((entity, code, name, name, 10 * (n + 1), "Y", None, None, None))
    return out


def deal_user_values(c: Any) -> Dict[str, List[Any]]:
    """Values of the deals' custom fields of :func:`.entities_crm.deal_user_fields`."""
    return {
        "UF_CRM_1700000004": [CHANNELS[(h >> 5) % 4][0] if (h >> 7) % 5 else None
                              for h in c.words],
        "UF_CRM_1700000005": [json.dumps([i for k, (i, _) in enumerate(INTERESTS)
                                          if (h >> (9 + k)) & 1]) if (h >> 12) % 3 else None
                              for h in c.words],
        "UF_CRM_1700000006": [f"{(h >> 13) % 200_000 * 10}.00|{CURRENCIES[(h >> 31) % 3]}"
                              if (h >> 33) & 1 else None for h in c.words],
        "UF_CRM_1700000007": ["Y" if (h >> 34) % 5 == 0 else "N" for h in c.words],
        "UF_CRM_1700000008": [_file(i, h) if (h >> 35) % 5 == 0 else None
                              for i, h in zip(c.ids, c.words)],
    }


def _file(owner: int, h: int) -> str:
    file_id = 1000 + owner
    base = "/bitrix/components/bitrix/crm.deal.show/show_file.php"
    where = f"ownerId={owner}&fieldName=UF_CRM_1700000008&fileId={file_id}"
    return json.dumps({"id": file_id, "showUrl": f"{base}?{where}",
                       "downloadUrl": f"{base}?auth=sandbox{h % 10**8:08d}&{where}"})


def quote(c: Any) -> Dict[str, List[Any]]:
    statuses_ = [("DRAFT", "SENT", "APPROVED", "DECLAINED")[(h >> 11) % 4] for h in c.words]
    return {
        "TITLE": [f"Quote #{i}" for i in c.ids], "STATUS_ID": statuses_,
        "OPPORTUNITY": [(h >> 20) % 3_000_000 / 100 for h in c.words],
        "CURRENCY_ID": c.choice(CURRENCIES, 43), "DEAL_ID": c.ref("deal", 23, 3),
        "COMPANY_ID": c.ref("company", 27, 4), "CONTACT_ID": c.ref("contact", 29, 3),
        "BEGINDATE": c.midnights(), "CLOSEDATE": c.midnights(20),
        "CLOSED": ["Y" if s in ("APPROVED", "DECLAINED") else "N" for s in statuses_],
        **_people(c),
    }


def smart(type_id: int) -> Any:
    own_id, _, categories = SMART_PROCESSES[type_id]
    uf = f"UF_CRM_{own_id}"

    def columns(c: Any) -> Dict[str, List[Any]]:
        picked = [categories[(h >> 14) % len(categories)][0] for h in c.words]
        stages = [SMART_STAGES[(h >> 11) % len(SMART_STAGES)][0] for h in c.words]
        return {
            "TITLE": [f"Project #{i}" for i in c.ids], "CATEGORY_ID": picked,
            "STAGE_ID": [f"DT{type_id}_{k}:{s}" for k, s in zip(picked, stages)],
            "OPPORTUNITY": [(h >> 20) % 10_000_000 / 100 for h in c.words],
            "CURRENCY_ID": c.choice(CURRENCIES, 43), "COMPANY_ID": c.ref("company", 27, 4),
            "BEGINDATE": c.midnights(), "CLOSEDATE": c.midnights(90), **_people(c),
            f"{uf}_1700000101": [f"PRJ-{h % 10000:04d}" for h in c.words],
            f"{uf}_1700000102": [PRIORITIES[(h >> 5) % 3][0] for h in c.words],
            f"{uf}_1700000103": c.midnights(60),
            f"{uf}_1700000104": [json.dumps(sorted({a, b})) for a, b in
                                 zip(c.ref("user", 32), c.ref("user", 40))],
        }
    return columns


def _people(c: Any) -> Dict[str, List[Any]]:
    assigned = c.ref("user", 32)
    return {"ASSIGNED_BY_ID": assigned, "CREATED_BY_ID": c.ref("user", 36),
            "MODIFY_BY_ID": assigned, "DATE_CREATE": c.created, "DATE_MODIFY": c.later(40, 60),
            "OPENED": c.const("Y"), "SOURCE_ID": c.choice(("CALL", "WEB", "EMAIL"), 53)}


def seed_extras(db: sqlite3.Connection, seed: int) -> None:
    """The dictionaries and dependent rows, each only into an empty place."""
    if not db.execute('SELECT 1 FROM "status" LIMIT 1').fetchone():
        db.executemany('INSERT INTO "status" ("ENTITY_ID", "STATUS_ID", "NAME", "NAME_INIT", '
                       '"SORT", "SYSTEM", "CATEGORY_ID", "COLOR", "SEMANTICS") '
                       'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', statuses())
    if not db.execute('SELECT 1 FROM "multifield" LIMIT 1').fetchone():
        for entity in ("lead", "contact", "company"):
            _seed_multifields(db, entity, random.Random(f"{seed}:{entity}:fm"))
    owners = [("Q", "quote"), *((f"T{type_id:x}", f"smart{type_id}") for type_id in SMART_PROCESSES)]
    for code, table in owners:
        if not db.execute('SELECT 1 FROM "productrow" WHERE "OWNER_TYPE" = ? LIMIT 1',
                          (code,)).fetchone():
            ids = [row[0] for row in db.execute(f'SELECT "ID" FROM "{table}" ORDER BY "ID"')]
            _seed_rows_of(db, code, ids, random.Random(f"{seed}:{table}:rows"))


def _seed_multifields(db: sqlite3.Connection, entity: str, rng: random.Random) -> None:
    rows = []
    for (id_,) in db.execute(f'SELECT "ID" FROM "{entity}" ORDER BY "ID"').fetchall():
        bits = rng.getrandbits(32)
        rows.append((entity.upper(), id_, "PHONE", ("WORK", "MOBILE")[bits & 1],
                     f"+7 9{bits % 10**9:09d}"))
        if bits >> 30:
            rows.append((entity.upper(), id_, "EMAIL", "WORK", f"{entity}{id_}@example.com"))
    db.executemany('INSERT INTO "multifield" ("ENTITY_ID", "ELEMENT_ID", "TYPE_ID", '
                   '"VALUE_TYPE", "VALUE") VALUES (?, ?, ?, ?, ?)', rows)


def _seed_rows_of(db: sqlite3.Connection, code: str, owners: List[int],
                  rng: random.Random) -> None:
    """Product rows of ``owners``: none, one, two or three each (1.5 on average)."""
    rows = []
    for owner in owners:
        for _ in range(rng.choice((0, 1, 2, 3))):
            name, price = CATALOGUE[rng.randrange(len(CATALOGUE))]
            rows.append((code, owner, 101 + CATALOGUE.index((name, price)), name, price,
                         float(rng.randint(1, 10))))
    db.executemany('INSERT INTO "productrow" ("OWNER_TYPE", "OWNER_ID", "PRODUCT_ID", '
                   '"PRODUCT_NAME", "PRICE", "QUANTITY") VALUES (?, ?, ?, ?, ?, ?)', rows)
