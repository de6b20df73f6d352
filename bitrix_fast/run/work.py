"""The contract between the engine side (executor) and anything that plans requests.

A plan is sans-I/O: it hands out :class:`Work` (a batch of commands, or one command to send as
its own JSON call), is fed the :class:`~bitrix_fast.protocol.batch.CommandResult` of each command, and
answers with the rows to yield and, implicitly, more work. The executor drives it and never
imports a planner; the list engine (:mod:`bitrix_fast.listing`) implements it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional, Protocol, Sequence

from ..protocol.batch import Command, CommandResult


@dataclass
class Work:
    """Commands to send in one request. ``single`` sends the only command as a JSON call
    (its parameters cannot be written as a query string). ``chained`` commands refer to each
    other through ``$result``, so none may be resent alone: the plan re-plans them itself.
    ``tags`` travel with the commands so the plan knows what each reply answers."""

    commands: List[Command]
    single: bool = False
    chained: bool = False
    tags: List[Any] = field(default_factory=list)


class Plan(Protocol):
    """The interface the executor drives."""

    done: bool
    #: expected number of rows (for the progress bar), None while unknown
    total: Optional[int]
    #: True when the plan itself guarantees each row is yielded once
    unique: bool

    def next_work(self) -> Optional[Work]:
        """Work that can be sent now, or None (wait for a reply, or nothing left)."""

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Any]:
        """Take the replies to ``work``; return the rows they carry."""

    def finish(self, rows: List[Any]) -> List[Any]:
        """The rows of a whole listing, in the order get_all returns them."""
