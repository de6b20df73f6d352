"""Seed rows that belong to a deal or a task: product rows, time records, task comments.

The generators follow :mod:`.seed`'s conventions (one 64-bit word per row feeds every field,
creation times grow with the ID) and take its ``Chunk``. Their owners come from the seeded
deals and tasks; when there are none, from made-up owner IDs ``1..max(1, n // 10)`` (see
:func:`.seed.seed_all`), so a portal seeded with ``productrows=6000`` alone still has rows
grouped by owner.

Time records look like the recorded ones (real_responses/task_elapseditem_getlist_mixed_types
.json): a manual record (``SOURCE`` 2) has ``DATE_START == DATE_STOP`` and a ``CREATED_DATE``
that may be days earlier (the day the work was done), a timer record (``SOURCE`` 3) starts at
``CREATED_DATE`` and stops ``SECONDS`` later; ``MINUTES`` is ``SECONDS // 60``.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

DAY = 86400
#: one column of generated rows: a value per row
Column = List[Any]

#: product catalogue: (name, price)
CATALOGUE: Tuple[Tuple[str, float], ...] = (
    ("Server rack 42U", 1890.0), ("CRM licence, 1 year", 249.0), ("Office chair", 179.5),
    ("Cloud backup, 1 TB", 96.0), ("Printer lease, month", 55.0), ("Consulting hour", 120.0),
    ("Laptop 14\"", 1290.0), ("Support plan, month", 310.0), ("Installation", 450.0),
    ("Training day", 800.0),
)
WORK_NOTES = ("", "", "", "Call with the client", "Review", "Fixes after review", "Meeting")
MESSAGES = ("Done, please check", "Photos attached", "Waiting for the client's answer",
            "Moved the deadline", "Need access to the portal", "Prepared new photos",
            "Agreed on the price")
AUTHORS = ("Anna Ivanova", "Boris Petrov", "Clara Smirnova", "Dmitry Kuznetsov", "Elena Popova",
           "Fyodor Sokolov", "Galina Lebedeva", "Igor Kozlov")


def _productrow(c: Any) -> Dict[str, Column]:
    picks = [(h >> 8) % len(CATALOGUE) for h in c.words]
    return {
        "OWNER_TYPE": c.const("D"), "OWNER_ID": c.ref("deal", 20),
        "PRODUCT_ID": [101 + p for p in picks],
        "PRODUCT_NAME": [CATALOGUE[p][0] for p in picks],
        "PRICE": [CATALOGUE[p][1] for p in picks],
        "QUANTITY": [float(1 + (h >> 30) % 10) for h in c.words],
    }


def _elapseditem(c: Any) -> Dict[str, Column]:
    seconds = [300 * (1 + (h >> 8) % 48) for h in c.words]  # 5 minutes .. 4 hours
    timer = [(h >> 16) % 4 == 0 for h in c.words]  # one record in four comes from the timer
    return {
        "TASK_ID": c.ref("task", 24), "USER_ID": c.ref("user", 32),
        "COMMENT_TEXT": c.choice(WORK_NOTES, 40),
        "SECONDS": seconds, "MINUTES": [s // 60 for s in seconds],
        "SOURCE": [3 if t else 2 for t in timer],
        "CREATED_DATE": [at if t else at - (h >> 44) % (5 * DAY)
                         for at, t, h in zip(c.created, timer, c.words)],
        "DATE_START": c.created,
        "DATE_STOP": [at + s if t else at for at, s, t in zip(c.created, seconds, timer)],
    }


def _commentitem(c: Any) -> Dict[str, Column]:
    return {
        "TASK_ID": c.ref("task", 24), "AUTHOR_ID": c.ref("user", 32),
        "AUTHOR_NAME": c.choice(AUTHORS, 36), "AUTHOR_EMAIL": c.const(""),
        "POST_DATE": c.created, "POST_MESSAGE": c.choice(MESSAGES, 40),
    }


#: generators by entity, in seeding order (after their owners)
OWNED: Dict[str, Callable[[Any], Dict[str, Column]]] = {
    "productrow": _productrow, "elapseditem": _elapseditem, "commentitem": _commentitem,
}
#: the entity whose IDs each one refers to
OWNERS: Dict[str, str] = {"productrow": "deal", "elapseditem": "task", "commentitem": "task"}
