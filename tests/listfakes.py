"""A pure, in-memory stand-in for a Bitrix list method, and a synchronous plan driver.

``FakeList`` answers batch commands the way the portal does (50-row pages, page-aligned
``start``, a ``start`` past the end returning page 1, ``start=-1`` without a count, ``>ID`` /
``>=ID`` / ``<ID`` filters, ``$result`` references resolved by the server's path rules), so
planner tests need no HTTP and no threads. ``quirks`` make it misbehave the ways real portals
do (bitrix-rest-semantics.md §8), as the sandbox's switches of the same names:
``joined_pages`` (every ``joined_every``-th ID joined twice: LIMIT over joined rows, pages
de-duplicated after, COUNT over the join), ``ignored_filters`` (ID filter keys and the order
dropped; rows in a stable non-ID order), ``ignored_start``, ``understated_total``,
``endless_next``, ``no_total``. ``run`` drives a plan to completion with a given number of
requests in flight, feeding replies in the order they were sent.
"""
from __future__ import annotations

import bisect
import random
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

from bitrix_fast.protocol.batch import Command, CommandResult
from bitrix_fast.errors import api_error

PAGE = 50
_REF = re.compile(r"^\$result((?:\[[^\]]*\])+)$")


def id_space(kind: str, rows: int, seed: int = 1) -> List[int]:
    """Sorted IDs: ``uniform`` 1..rows, ``sparse`` random gaps, ``clustered`` dense runs
    separated by huge holes."""
    rng = random.Random(seed)
    if kind == "uniform":
        return list(range(1, rows + 1))
    ids: List[int] = []
    current = 0
    if kind == "sparse":
        while len(ids) < rows:
            current += 1 + rng.choice((0, 1, 2, 3, 4)) + (rng.randint(100, 600)
                                                         if rng.random() < 0.01 else 0)
            ids.append(current)
        return ids
    if kind == "clustered":
        while len(ids) < rows:
            current += rng.randint(10_000, 1_000_000)
            run = min(rng.randint(500, 20_000), rows - len(ids))
            ids.extend(range(current, current + run))
            current += run
        return ids
    raise ValueError(kind)


@dataclass
class FakeList:
    """One list method over a set of IDs; ``wrapper`` / ``id_key`` mimic crm.item or tasks."""

    ids: List[int]
    wrapper: Optional[str] = None
    id_key: str = "ID"
    filter_id: str = "ID"
    classic: bool = True
    requests: int = 0
    commands: int = 0
    rows_served: int = 0
    counted: int = 0
    on_command: Optional[Callable[["FakeList"], None]] = None
    refuse: Callable[[Command], bool] = lambda command: False
    log: List[Dict[str, Any]] = field(default_factory=list)
    quirks: frozenset = frozenset()
    joined_every: int = 7

    def batch(self, commands: Sequence[Command]) -> List[CommandResult]:
        self.requests += 1
        done: Dict[str, Any] = {}
        out: List[CommandResult] = []
        for command in commands:
            self.commands += 1
            if self.on_command is not None:
                self.on_command(self)
            if self.refuse(command):
                out.append(CommandResult(command.label, command.method,
                                         error=api_error("OPERATION_TIME_LIMIT", "blocked",
                                                         status=429)))
                continue
            try:
                params = _resolve(command.params, done)
                result, total, nxt = self._list(params)
            except ValueError as error:
                out.append(CommandResult(command.label, command.method,
                                         error=api_error("", str(error), status=400)))
                continue
            done[command.label] = result
            out.append(CommandResult(command.label, command.method, result=result,
                                     total=total, next=nxt))
        return out

    def _list(self, params: Dict[str, Any]):
        self.log.append(params)
        quirks = self.quirks
        flt = params.get("filter") or params.get("FILTER") or {}
        if "ignored_filters" in quirks:
            flt = {}
        lo, hi = 0, len(self.ids)
        ids = self.ids
        for key, value in flt.items():
            if isinstance(value, (list, dict)):
                raise ValueError(f"Filter value for {key!r} must be scalar")
            value = int(value)
            name = key.lstrip("<>=!")
            if name != self.filter_id:
                continue
            op = key[: len(key) - len(name)]
            if op == ">":
                lo = max(lo, bisect.bisect_right(ids, value))
            elif op == ">=":
                lo = max(lo, bisect.bisect_left(ids, value))
            elif op == "<":
                hi = min(hi, bisect.bisect_left(ids, value))
            elif op == "<=":
                hi = min(hi, bisect.bisect_right(ids, value))
            else:
                raise ValueError(f"unsupported op {op!r}")
        matching = ids[lo:hi] if lo < hi else []
        order = params.get("order") or {}
        if isinstance(order, str):  # user.get: sort/order strings
            desc = order.upper() == "DESC"
        else:
            desc = any(str(v).upper() == "DESC" for v in order.values())
        if "ignored_filters" in quirks:
            matching = sorted(matching, key=lambda i: (i * 2654435761) % 4294967296)
        elif desc:
            matching = matching[::-1]
        if "joined_pages" in quirks:
            joined = []
            for value in matching:
                joined.extend([value, value] if value % self.joined_every == 0 else [value])
            matching = joined
        start = int(params.get("start", 0))
        total = None
        nxt = None
        if start < 0:
            page = _distinct(matching[:PAGE])
        else:
            total = len(matching)
            self.counted += total
            claim = total - max(1, total // 10) if "understated_total" in quirks else total
            offset = 0 if "ignored_start" in quirks else (start // PAGE) * PAGE
            if offset >= total and self.classic:
                offset = 0  # the real trap: past the end, page 1 again
            page = _distinct(matching[offset:offset + PAGE])
            step = (start // PAGE) * PAGE
            if "endless_next" in quirks or step + PAGE < claim:
                nxt = step + PAGE
            total = None if "no_total" in quirks else claim
        self.rows_served += len(page)
        rows = [{self.id_key: str(i), "TITLE": f"row {i}"} for i in page]
        result: Any = {self.wrapper: rows} if self.wrapper else rows
        return result, total, nxt


def _distinct(values: List[int]) -> List[int]:
    return list(dict.fromkeys(values))


def _resolve(value: Any, done: Dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, done) for v in value]
    if isinstance(value, str):
        match = _REF.match(value)
        if match:
            keys = re.findall(r"\[([^\]]*)\]", match.group(1))
            current: Any = done
            for key in keys:  # the server stops at the last level that resolves
                if isinstance(current, dict) and key in current:
                    current = current[key]
                elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
                    current = current[int(key)]
                else:
                    break
            return current
    return value


def run(plan: Any, server: FakeList, *, in_flight: int = 4, batch=None,
        deliveries: Optional[List[List[Any]]] = None) -> List[Any]:
    """Drive ``plan`` to completion against ``server``; returns every row yielded (and
    appends each reply's rows, when there are any, to ``deliveries``: what get_all gets)."""
    send = batch or server.batch
    rows: List[Any] = []
    queue: deque = deque()
    guard = 0
    while True:
        while len(queue) < in_flight:
            work = plan.next_work()
            if work is None:
                break
            queue.append((work, send(work.commands)))
        if not queue:
            assert plan.done, "plan stalled"
            return rows
        work, results = queue.popleft()
        fed = plan.feed(work, results)
        rows.extend(fed)
        if deliveries is not None and fed:
            deliveries.append(fed)
        guard += 1
        assert guard < 100_000, "plan does not terminate"
