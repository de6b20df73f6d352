"""How much of the ``time`` block a portal sends, and how a request past the 60 s cut ends.

``time`` (``Sandbox(time_fields=...)``):

``full``
    Every reply has ``time`` with ``operating`` and ``operating_reset_at`` (cloud portals).
``no_operating``
    ``time`` without ``operating`` / ``operating_reset_at``: self-hosted portals, whose load
    limiter is off by default (rest ``LoadLimiter::isActive``; b24jssdk #459). A batch's
    commands' ``result_time`` lack them too.
``none``
    No ``time`` at all, in single replies, batch envelopes and ``result_time`` (reported by
    fast_bitrix24 users, #269: a KeyError there).

The cut (``Sandbox(cut=60)``): every request is cut at 60 s of execution (limits.md, 2026).
A batch runs its commands in order; those that start before the cut run (and are billed),
the rest do not; at the cut the proxy in front answers ``504 Gateway Time-out``. A single
call whose modelled time passes the cut ran, and is answered the same way. None: no cut.

The batch length (``Sandbox(batch_length=50, batch_length_error=...)``): commands past it
fail ``ERROR_BATCH_LENGTH_EXCEEDED`` one by one (``commands``, the server source), or the
whole batch is answered with that error and nothing runs (``whole``, as some docs read).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

__all__ = ["TIME_FIELDS", "LENGTH_ERRORS", "shape_time", "too_long_body"]

TIME_FIELDS = ("full", "no_operating", "none")
LENGTH_ERRORS = ("commands", "whole")
_OPERATING = ("operating", "operating_reset_at")


def shape_time(body: Any, mode: str) -> Any:
    """``body`` (an entry or an envelope, a batch's included) with the ``time`` fields the
    portal sends in ``mode``; changed in place and returned."""
    if mode == "full" or not isinstance(body, dict):
        return body
    _strip(body, mode)
    groups = body.get("result")
    if isinstance(groups, dict) and "result_time" in groups:
        times = groups["result_time"]
        if mode == "none":
            groups["result_time"] = []
        else:
            for block in times.values() if isinstance(times, dict) else times:
                if isinstance(block, dict):
                    for key in _OPERATING:
                        block.pop(key, None)
    return body


def _strip(body: Dict[str, Any], mode: str) -> None:
    block = body.get("time")
    if not isinstance(block, dict):
        return
    if mode == "none":
        del body["time"]
    else:
        for key in _OPERATING:
            block.pop(key, None)


def too_long_body() -> Dict[str, str]:
    return {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"}


def check(time_fields: str, cut: Any, batch_length: Any, batch_length_error: str) -> None:
    """ValueError for switches that make no sense."""
    if time_fields not in TIME_FIELDS:
        raise ValueError(f"time_fields must be one of {', '.join(TIME_FIELDS)}, not {time_fields!r}")
    if cut is not None and not (isinstance(cut, (int, float)) and cut > 0):
        raise ValueError(f"cut must be seconds > 0 or None, not {cut!r}")
    if isinstance(batch_length, bool) or not isinstance(batch_length, int) or batch_length < 1:
        raise ValueError(f"batch_length must be an integer >= 1, not {batch_length!r}")
    if batch_length_error not in LENGTH_ERRORS:
        raise ValueError(f"batch_length_error must be one of {', '.join(LENGTH_ERRORS)}, "
                         f"not {batch_length_error!r}")


def command_count(params: Mapping[str, Any]) -> int:
    """How many commands a batch request holds (``cmd`` found case-insensitively)."""
    cmd = {str(key).upper(): value for key, value in params.items()}.get("CMD")
    return len(cmd) if isinstance(cmd, (dict, list)) else 0
