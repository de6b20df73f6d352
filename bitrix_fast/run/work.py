"""The contract between the scheduler and whatever has requests to send.

A :class:`Source` is sans-I/O: it hands out :class:`Work` (a batch of commands, or one command
to send as its own JSON call), is told what became of each (``feed`` with the replies,
``failed`` when the request raised, ``lost`` when it was still on the wire as waiting ended),
and answers with what the caller gets: rows for a listing (:mod:`bitrix_fast.listing`), one
outcome per item for a bulk call (:mod:`bitrix_fast.writes.bulk`). The scheduler
(:mod:`.scheduler`) drives every source the same way and imports none of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, List, Optional, Protocol, Sequence, TypeVar

from ..protocol.batch import Command, CommandResult

T = TypeVar("T")


@dataclass(eq=False)
class Work:
    """Commands to send in one request.

    ``single`` sends the only command as its own JSON call (its parameters cannot be written
    as a query string). ``chained`` commands refer to each other through ``$result``, so
    none may be resent alone: a failed read is resent whole. ``read_only`` says resending
    cannot change data. ``tags`` travel with the commands so the source knows what each
    reply answers. ``v3`` sends the only command (``single``) to REST 3.0, with its
    ``headers``. ``optional`` (a read the source may set while the work is on the wire)
    says nothing waits for its reply: once the source is done, the run ends without it.
    ``wake_after``: seconds after it leaves at which the source may have more to send even
    if no reply came (a listing that stops waiting for a slow first request): the scheduler
    asks then. Compared by identity: each Work is one request of one call.
    """

    commands: List[Command]
    single: bool = False
    chained: bool = False
    read_only: bool = True
    tags: List[Any] = field(default_factory=list)
    v3: bool = False
    optional: bool = False
    wake_after: Optional[float] = None


@dataclass(frozen=True)
class Delivery(Generic[T]):
    """Outputs handed to the caller together: those of one reply. ``mark`` is what the source
    could claim just before this reply was fed (:meth:`Source.mark`), so it holds once
    every earlier delivery was taken."""

    items: List[T]
    mark: Any = None


class Source(Protocol[T]):
    """What the scheduler drives (see the module docstring)."""

    @property
    def done(self) -> bool:
        """Nothing more to hand out and nothing awaited."""

    @property
    def total(self) -> Optional[int]:
        """How many outputs to expect, for progress (None while unknown)."""

    def next_work(self) -> Optional[Work]:
        """Work that can be sent now, or None (wait for a reply, or nothing left)."""

    def mark(self) -> Any:
        """A claim about everything delivered so far (a listing: the ID intervals proven
        read), taken right before a reply is fed; None when there is nothing to claim."""

    def ready(self) -> List[T]:
        """Outputs available without sending anything (a bulk call's items that failed the
        parameter checks); called after each round of ``next_work``."""

    def before_send(self, work: Work) -> None:
        """Called on a worker thread right before ``work`` goes on the wire (after every
        wait); raising sends nothing (the error becomes ``failed``)."""

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[T]:
        """The replies to ``work``, one per command; what they give the caller."""

    def failed(self, work: Work, error: BaseException) -> List[T]:
        """``work`` raised ``error`` instead of replying: a Stopped when it was never sent,
        else whatever ended it. Return what the caller gets, or raise to end the run."""

    def lost(self, work: Work, error: BaseException) -> List[T]:
        """``work`` was still on the wire when waiting for it ended: its fate is unknown."""

    def leftovers(self, reason: BaseException) -> List[T]:
        """After a halt, for everything never handed out (a bulk call's remaining input)."""
