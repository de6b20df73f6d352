"""Every REST method the sandbox serves, by lowercase name.

A handler takes ``(store, params, ctx)`` and returns an :class:`Outcome` or raises
:class:`ApiFault`; it never sees HTTP. ``batch`` is not here: the dispatcher runs it.
"""
from __future__ import annotations

from typing import Any, Callable, Dict

from . import crm, crmdicts, itemrows, items, productrows, taskitems, tasks, users
from .outcome import CallContext, Outcome
from .values import iso_at

Handler = Callable[[Any, Dict[str, Any], CallContext], Outcome]


def server_time(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    return Outcome(iso_at(ctx.now))


HANDLERS: Dict[str, Handler] = {
    **crm.METHODS, **items.METHODS, **tasks.METHODS, **users.METHODS,
    **productrows.METHODS, **taskitems.METHODS, **crmdicts.METHODS, **itemrows.METHODS,
    "server.time": server_time,
}
