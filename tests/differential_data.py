"""Data of the differential suite (tests/test_differential.py): bitrix_fast and fast_bitrix24
side by side on the same sandbox data.

* :data:`DIFFERENCES` -- the ONE list of every way bitrix_fast deliberately answers otherwise.
  Each entry says what each library does and why; an entry may only exist where
  fast_bitrix24's answer leaks its internals (``kind="internals"``) or is an error
  (``kind="error"``). Cases that differ name their entry; README.rst's migration table is
  :func:`render_table` of this list, checked by a test.
* :data:`CATCH` -- how an exception fast_bitrix24 raises is caught when bitrix_fast raises.
* :class:`ExtendedStore` -- the sandbox's store plus a few methods whose result shapes matter
  here (a data-keyed dict, a bare list per ID, a ``{products}`` list, a parameter echo), and
  an optional over-claimed ``total``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from bitrix_fast.testing.sandbox import Sandbox
from bitrix_fast.testing.sandbox.outcome import ApiFault, Outcome
from bitrix_fast.testing.sandbox.query import id_param, param
from bitrix_fast.testing.sandbox.store import Store


@dataclass(frozen=True)
class Difference:
    key: str
    call: str
    fast_bitrix24: str
    bitrix_fast: str
    why: str
    kind: str  # "internals" or "error"
    #: a test outside the differential cases that shows it (``file::function``), for entries
    #: no side-by-side call can show
    tested_by: Optional[str] = None


DIFFERENCES: List[Difference] = [
    Difference(
        "call-one-dict-label",
        "``call(m, {params})``, a dict result (``crm.deal.get``)",
        '``{"order0000000000": result}``',
        "the result",
        "The key is fast_bitrix24's internal batch label.",
        "internals"),
    Difference(
        "call-one-dict-first-row",
        "``call(m, {params})``, a list result (``crm.deal.list``, ``crm.item.list``, "
        "``crm.deal.contact.items.get``)",
        "the first row only",
        "the whole list",
        "The other rows are lost.",
        "error"),
    Difference(
        "call-one-item",
        "``call(m, [one item])``",
        "the bare result (``61``)",
        "a one-item tuple (``(61,)``)",
        "fast_bitrix24 reads a batch of one command as a single call: its batch packing "
        "shows through (the same rule breaks 51 items).",
        "internals"),
    Difference(
        "call-51",
        "``call(m, items)`` with 51, 101, ... items",
        "a result lost, or ``AttributeError``",
        "every result, in input order",
        "The last batch holds one command and is read as a single call.",
        "error"),
    Difference(
        "get-by-id-51",
        "``get_by_ID(m, ids)`` with 51, 101, ... IDs",
        "the last item's fields merged into the answer as keys",
        "one entry per ID",
        "The last batch holds one command and is read as a single call.",
        "error"),
    Difference(
        "call-empty",
        "``call(m, [])``",
        "``ViolationError``",
        "``[]``",
        "An internal contract fails.",
        "error"),
    Difference(
        "get-by-id-empty",
        "``get_by_ID(m, [])``, ``list_and_get`` of an empty list",
        "``ViolationError``",
        "``{}``",
        "An internal contract fails.",
        "error"),
    Difference(
        "call-no-params",
        "``call(m)``, ``call(m, {})`` (``server.time``)",
        "``BeartypeCallHintParamViolation``, ``ViolationError``",
        "the method called without parameters",
        "A method without parameters cannot be called except with ``raw=True``.",
        "error"),
    Difference(
        "flatten-mixed",
        "``call(m, items)`` whose first result is a list and another is not "
        "(``tasks.task.get`` of a missing task first)",
        "the other results' keys spliced in as rows",
        "the list of results, not flattened",
        "Flattening a dict iterates its keys: the results are garbled.",
        "error"),
    Difference(
        "data-keyed",
        '``crm.duplicate.findbycomm`` (also ``im.user.list.get``, ``user.option.get``, '
        '``app.option.get``) when the answer has one key',
        'the key dropped: the first ID (one dict), the IDs of every entity type mixed '
        '(a list)',
        '``{"CONTACT": [...]}`` as the portal sent it',
        "The one key is data (the entity type), not a wrapper; bitrix_fast decides by "
        "method, not by the number of keys.",
        "error"),
    Difference(
        "get-all-order",
        '``get_all(m, {"order": ...})``',
        "``ViolationError``",
        "the rows in that order",
        "fast_bitrix24 refuses an order it could not page with.",
        "error"),
    Difference(
        "get-all-engine-order",
        "``get_all`` of engine lists that name the ID ``id`` (``crm.item.list``, "
        "``crm.type.list``)",
        'HTTP 400: it adds ``order: {"ID": "ASC"}``, which these reject (its issue #196)',
        "every row",
        "The portal refuses the order fast_bitrix24 adds.",
        "error"),
    Difference(
        "select-star-filter",
        '``get_all(m, {"select": ["*"], "filter": {...}})``',
        'warns "selecting all fields and no filter"',
        "no warning",
        "The check looks for a lower-case ``filter`` among upper-cased keys, so it always "
        "fires.",
        "error"),
    Difference(
        "params-checked",
        '``call(m, {"fields": "text"})`` and other clauses of the wrong type',
        "sent; the portal refuses (``ErrorInServerResponseException``)",
        "``TypeError`` before anything is sent",
        "fast_bitrix24 checks clause types for ``get_all`` and ``get_by_ID`` only.",
        "error"),
    Difference(
        "sends-order-key",
        "``call(m, items)``: what the portal receives",
        "each item plus ``__order=order0000000000``",
        "each item as given",
        "The extra key is an internal label; some methods break on it "
        "(``crm.item.productrow.list``, its issue #234).",
        "internals"),
    Difference(
        "sends-booleans",
        "``True`` / ``False`` in batched items",
        '``"True"`` / ``"False"``, and PHP reads ``"False"`` as true',
        "``1`` / ``0``, as PHP encodes booleans",
        "``False`` arrived as true (its issues #156, #265). For Y/N fields pass ``\"Y\"`` / "
        "``\"N\"``.",
        "error"),
    Difference(
        "sends-none",
        "``None`` in batched items",
        '``"None"``, a string',
        "``null``: the item goes as its own JSON call",
        'A field meant to be cleared was set to "None".',
        "error"),
    Difference(
        "http-errors",
        "HTTP 4xx from the portal: wrong webhook, unknown method, bad request",
        "``aiohttp.ClientResponseError``",
        "``ApiError`` (``AuthError``, ``MethodNotFound``) with the same ``.status``; also an "
        "``ErrorInServerResponseException`` and a ``RuntimeError``",
        "aiohttp is fast_bitrix24's HTTP library; catching its class would need aiohttp.",
        "internals"),
    Difference(
        "contract-errors",
        "Misuse caught before sending (``start`` in ``get_all``, ``slow(0)``, ``call(\"batch\", "
        "...)``, ``ID`` in ``get_by_ID``'s params)",
        "icontract ``ViolationError`` (an ``AssertionError``) or a beartype violation",
        "``ValueError`` / ``TypeError``, as fast_bitrix24's README promises for parameter "
        "checks",
        "icontract and beartype are fast_bitrix24's checking libraries.",
        "internals"),
    Difference(
        "error-args",
        "``ErrorInServerResponseException`` raised for failed commands",
        "``args[0]``: the raw ``result_error`` dict keyed by its labels",
        "a message; ``.errors`` (per item or label), ``.results``, ``.in_doubt``, each "
        "error's ``.code`` and ``.description``",
        "The labels (``order0000000000``) are internal.",
        "internals",
        tested_by="tests/test_differential.py::test_error_details_differ_as_listed"),
    Difference(
        "int-rate",
        "``Bitrix(webhook, requests_per_second=5)`` (an int)",
        "a beartype violation",
        "accepted",
        "An int rate is refused by a type annotation.",
        "error"),
    Difference(
        "sync-token-func",
        "``Bitrix(endpoint, token_func=f)`` with a plain function",
        "``ValueError``",
        "accepted (a coroutine function too)",
        "Only coroutine functions are accepted.",
        "error"),
    Difference(
        "client-session",
        "``Bitrix(webhook, client=session)``",
        "an ``aiohttp.ClientSession``",
        "a ``requests.Session`` (an aiohttp session: ``TypeError``)",
        "The session is fast_bitrix24's HTTP library.",
        "internals",
        tested_by="tests/test_differential.py::test_client_is_a_requests_session"),
    Difference(
        "running-loop",
        "``Bitrix`` (sync) called while an event loop runs (Jupyter, async views)",
        "an ``asyncio.Task`` instead of the result",
        "the result",
        "Its sync client wraps its async core.",
        "internals"),
    Difference(
        "writes-resent",
        "A write whose request timed out or got a 5xx",
        "sent again: the item may be created twice",
        "not resent: reported in ``BatchError.in_doubt``",
        "A resent write that had run is a duplicate.",
        "error",
        tested_by="tests/test_reliability.py::test_adds_through_500s_never_create_an_item_twice"),
    Difference(
        "operating-limit",
        "429 ``OPERATION_TIME_LIMIT`` (the method's server-time budget is spent)",
        "``aiohttp.ClientResponseError``",
        "waited out until ``operating_reset_at`` (``OperationTimeLimit`` with "
        "``respect_velocity_policy=False``)",
        "The script dies in the middle of an export.",
        "error",
        tested_by="tests/test_reliability.py::test_a_spent_operating_budget_is_waited_out"),
    Difference(
        "big-exports",
        "``get_all`` of a big table, or one changing meanwhile",
        "a COUNT and an OFFSET on every page: the budget runs out (429) at 70k-300k rows; "
        "added or removed rows shift pages (rows lost or repeated, a ``RuntimeWarning``)",
        "ID ranges: every row that existed throughout, once",
        "Lost and repeated rows.",
        "error",
        tested_by="tests/test_listing.py::test_churn_loses_no_surviving_row_and_duplicates_none"),
    Difference(
        "progress-bars",
        "``verbose=True`` (the default) in cron jobs, pipes, log files",
        "tqdm bars on stderr",
        "bars only on a terminal or in a notebook",
        "Carriage-return redraws garble log files.",
        "error",
        tested_by="tests/test_async_and_output.py::"
                  "test_progress_is_silent_off_a_terminal_and_drawn_when_asked"),
]

BY_KEY: Dict[str, Difference] = {d.key: d for d in DIFFERENCES}
assert len(BY_KEY) == len(DIFFERENCES), "duplicate difference keys"


#: fast_bitrix24's exception (dotted name) -> the bitrix_fast classes (names exported by
#: ``bitrix_fast`` or builtins) an ``except`` must name to catch ours, and the difference
#: entry when that is not the same clause.
CATCH: Dict[str, Tuple[Tuple[str, ...], Optional[str]]] = {
    "fast_bitrix24.server_response.ErrorInServerResponseException":
        (("ErrorInServerResponseException",), None),
    "builtins.RuntimeError": (("RuntimeError",), None),
    "builtins.ValueError": (("ValueError",), None),
    "builtins.TypeError": (("TypeError",), None),
    "aiohttp.client_exceptions.ClientResponseError": (("ApiError",), "http-errors"),
    "icontract.errors.ViolationError": (("ValueError", "TypeError"), "contract-errors"),
    "beartype.roar.BeartypeCallHintParamViolation": (("ValueError", "TypeError"),
                                                     "contract-errors"),
}


# -- README table --------------------------------------------------------------------------

TABLE_HEADER = ("Call", "fast_bitrix24", "bitrix_fast", "Why")


def render_table(differences: List[Difference] = DIFFERENCES) -> str:
    """README.rst's migration table: one row per difference."""
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 26 24 24 26", ""]
    for row in [TABLE_HEADER] + [(d.call, d.fast_bitrix24, d.bitrix_fast, d.why)
                                 for d in differences]:
        for n, cell in enumerate(row):
            lines.append(("   * - " if n == 0 else "     - ") + cell)
    return "\n".join(lines) + "\n"


# -- the portal: the sandbox plus a few methods --------------------------------------------

#: crm.duplicate.findbycomm's canned matches: communication -> {entity type: [IDs]}
COMMUNICATIONS: Dict[str, Dict[str, List[int]]] = {
    "+79000000001": {"CONTACT": [3, 8]},
    "+79000000002": {"CONTACT": [5], "LEAD": [12]},
    "+79000000003": {"COMPANY": [4]},
}
#: crm.deal.contact.items.get's canned bindings: deal ID -> contact IDs
DEAL_CONTACTS: Dict[int, List[int]] = {1: [3], 2: [4, 5], 3: []}
PRODUCTS = 60


def _findbycomm(store: Any, params: Dict[str, Any], ctx: Any) -> Outcome:
    values = param(params, "values")
    if not param(params, "type") or not isinstance(values, list):
        raise ApiFault("", "Parameter 'values' must be array.", 400)
    found: Dict[str, List[int]] = {}
    for value in values:
        for entity, ids in COMMUNICATIONS.get(str(value), {}).items():
            found.setdefault(entity, []).extend(ids)
    return Outcome(found or [])  # nothing found: an empty PHP array, JSON []


def _deal_contacts(store: Any, params: Dict[str, Any], ctx: Any) -> Outcome:
    deal = id_param(param(params, "id"))
    if deal is None:
        raise ApiFault("", "The parameter 'ownerEntityID' is invalid or not defined.", 400)
    return Outcome([{"CONTACT_ID": contact, "SORT": 10 * (n + 1), "ROLE_ID": 0,
                     "IS_PRIMARY": "Y" if n == 0 else "N"}
                    for n, contact in enumerate(DEAL_CONTACTS.get(deal, []))])


def _product(n: int) -> Dict[str, Any]:
    return {"id": n, "iblockId": 14, "name": f"Product {n}", "active": "Y",
            "price": round(100 + n * 2.5, 2)}


def _products(store: Any, params: Dict[str, Any], ctx: Any) -> Outcome:
    start = id_param(param(params, "start")) or 0
    start -= start % 50  # page-aligned, as engine lists are
    page = [_product(n) for n in range(start + 1, min(start + 50, PRODUCTS) + 1)]
    end = start + len(page)
    return Outcome({"products": page}, total=PRODUCTS,
                   next=end if end < PRODUCTS else None, rows=len(page))


def _product_get(store: Any, params: Dict[str, Any], ctx: Any) -> Outcome:
    n = id_param(param(params, "id"))
    if n is None or n > PRODUCTS:
        raise ApiFault("200040300010", "product does not exist.", 400)
    return Outcome({"product": _product(n)}, rows=1)


def _echo(store: Any, params: Dict[str, Any], ctx: Any) -> Outcome:
    """The parameters as the portal parsed them: what a method receives."""
    return Outcome(dict(params) if params else [])


EXTRA_METHODS = {
    "crm.duplicate.findbycomm": _findbycomm,
    "crm.deal.contact.items.get": _deal_contacts,
    "catalog.product.list": _products,
    "catalog.product.get": _product_get,
    "probe.echo": _echo,
}


class ExtendedStore(Store):
    """The sandbox's SQLite store, serving :data:`EXTRA_METHODS` too. ``inflate_total`` makes
    ``crm.deal.list`` claim that many rows more than it has (a COUNT over joins, as real
    portals do: bitrix-rest-semantics.md §8)."""

    def __init__(self, inflate_total: int = 0) -> None:
        super().__init__()
        self.inflate_total = inflate_total

    def knows(self, method: str) -> bool:
        return method in EXTRA_METHODS or super().knows(method)

    def call(self, method: str, params: Dict[str, Any], ctx: Any) -> Outcome:
        handler = EXTRA_METHODS.get(method)
        if handler is not None:
            return handler(self, params or {}, ctx)
        out = super().call(method, params, ctx)
        if self.inflate_total and method == "crm.deal.list" and out.total is not None:
            out.total += self.inflate_total
        return out


#: Small tables: both clients read the same few hundred rows in well under a second.
DEFAULT_DATA = dict(deals=60, leads=30, contacts=12, companies=5, tasks=70, users=4)


@contextlib.contextmanager
def portal(seed: int = 7, inflate_total: int = 0, **data: int) -> Iterator[Sandbox]:
    """A fresh portal, seeded the same way every time it is asked for the same data."""
    store = ExtendedStore(inflate_total=inflate_total)
    try:
        store.seed(**{**DEFAULT_DATA, **data}, seed=seed)
        with Sandbox(store=store, plan="x10") as sandbox:
            yield sandbox
    finally:
        store.close()


if __name__ == "__main__":  # prints README.rst's migration table
    print(render_table(), end="")
