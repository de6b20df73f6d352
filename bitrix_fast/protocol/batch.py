"""Pack commands into one ``batch`` request and unpack its reply, command by command.

A ``batch`` reply groups per-command outcomes by label: ``result``, ``result_error``,
``result_total``, ``result_next``, ``result_time``. PHP encodes an empty group as ``[]`` and a
group whose keys are 0..n-1 as a list, so labels are never purely numeric here and every group
is read through :func:`_group`. Nothing is dropped: every command comes back as a
:class:`CommandResult`, successful, failed, not executed (``halt`` stopped the batch), or
of unknown fate.

A reply is trusted no further than it goes. A command whose label is in no group, or every
command of a reply whose ``result`` is null, a list, or garbage, ran or did not: the
server answered 200, so it got the batch, but did not say. Such a command comes back
``in_doubt`` with a :class:`~bitrix_fast.errors.BadResponse`; the engine resends it if it
only reads and never resends it if it writes. Only a ``halt`` batch may leave labels out
legitimately, and only after the command that failed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from . import encoding
from ..errors import ApiError, BadResponse, BitrixError, api_error
from .redaction import hide_strings

#: The server runs at most 50 commands per batch; the rest fail ERROR_BATCH_LENGTH_EXCEEDED.
MAX_COMMANDS = 50

#: The HTTP status the server uses for each refusal code when it sends it as a whole reply;
#: inside a batch the status is implied by the code.
_IMPLIED_STATUS = {"QUERY_LIMIT_EXCEEDED": 503, "OPERATION_TIME_LIMIT": 429,
                   "ERROR_METHOD_NOT_FOUND": 404, "EXPIRED_TOKEN": 401,
                   "INVALID_TOKEN": 401, "INSUFFICIENT_SCOPE": 401,
                   "INVALID_CREDENTIALS": 401, "NO_AUTH_FOUND": 401}


@dataclass(frozen=True)
class Command:
    """One command of a batch: a label unique within the batch, a method and its parameters.
    ``headers`` go with a command sent as its own call (a REST 3.0 Idempotency-Key); a
    batch cannot carry them."""

    label: str
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        return encoding.command(self.method, self.params)


@dataclass
class CommandResult:
    """What became of one command: succeeded (``ok``), failed (``error``), or of unknown fate
    (``in_doubt``: the request carrying it failed in a way that does not prove it did not run)."""

    label: str
    method: str
    result: Any = None
    total: Optional[int] = None
    next: Optional[int] = None
    time: Optional[Dict[str, Any]] = None
    error: Optional[BitrixError] = None
    executed: bool = True
    in_doubt: bool = False
    #: a single call's whole reply (``call(raw=True)`` returns it as it came)
    envelope: Any = None

    @property
    def ok(self) -> bool:
        return self.executed and self.error is None and not self.in_doubt


def labels(count: int, prefix: str = "c") -> List[str]:
    """``count`` stable, zero-padded labels (``c0000``, ``c0001``, ...) that sort in input order."""
    return [f"{prefix}{index:04d}" for index in range(count)]


def pack(commands: Sequence[Command], *, halt: bool = False) -> Dict[str, Any]:
    """The parameters of one ``batch`` call. Raises ``encoding.Unencodable`` for a command
    whose parameters a query string cannot carry (send that one as its own JSON call)."""
    if not commands:
        raise ValueError("a batch needs at least one command")
    if len(commands) > MAX_COMMANDS:
        raise ValueError(f"a batch holds at most {MAX_COMMANDS} commands, got {len(commands)}")
    cmd: Dict[str, str] = {}
    for command in commands:
        if command.label in cmd:
            raise ValueError(f"duplicate batch label {command.label!r}")
        cmd[command.label] = command.encode()
    return {"halt": 1 if halt else 0, "cmd": cmd}


def unpack(reply: Any, commands: Sequence[Command], *, halt: bool = False,
           hide: Callable[[str], str] = str) -> List[CommandResult]:
    """Split the ``result`` of a batch envelope into one :class:`CommandResult` per command,
    in the order of ``commands``. Never raises for a malformed reply: what it does not
    answer for comes back in doubt (see the module docstring). ``halt`` says the batch was
    sent with ``halt=1``, so commands after the first failed one were legitimately skipped.
    ``hide`` redacts secrets from error texts built from the reply."""
    body = reply if isinstance(reply, Mapping) else {}
    results = _group(body.get("result"))
    errors = _group(body.get("result_error"))
    totals = _group(body.get("result_total"))
    nexts = _group(body.get("result_next"))
    times = _group(body.get("result_time"))
    halted = False
    out: List[CommandResult] = []
    for command in commands:
        label = command.label
        if label in errors:
            out.append(CommandResult(label, command.method,
                                     error=command_error(errors[label], command, hide)))
            halted = halt
        elif label in results:
            out.append(CommandResult(label, command.method, result=results[label],
                                     total=_int_or_none(totals.get(label)),
                                     next=_int_or_none(nexts.get(label)),
                                     time=_dict_or_none(times.get(label))))
        elif halted:
            out.append(CommandResult(label, command.method, executed=False))
        else:
            out.append(CommandResult(label, command.method, error=missing(command),
                                     in_doubt=True))
    return out


def missing(command: Command) -> BadResponse:
    """The error of a command a 200 batch reply did not answer for."""
    return BadResponse("the portal's batch reply holds no result for this command (it may "
                       "or may not have run)", method=command.method, status=200)


def _group(value: Any) -> Dict[str, Any]:
    if isinstance(value, Mapping):
        return {str(key): item for key, item in value.items()}
    if isinstance(value, list):
        return {str(index): item for index, item in enumerate(value)}
    return {}


def command_error(body: Any, command: Command, hide: Callable[[str], str] = str) -> ApiError:
    """The ApiError for one command's ``result_error`` entry; ``hide`` redacts its texts."""
    if isinstance(body, Mapping):
        code = body.get("error", "")
        description = body.get("error_description", "")
        extra = {k: v for k, v in body.items() if k not in ("error", "error_description")}
    else:
        code, description, extra = "", str(body), {}
    code = "" if code is None else str(code)
    return api_error(hide(code), hide("" if description is None else str(description)),
                     status=_IMPLIED_STATUS.get(code.upper()), method=command.method,
                     command_label=command.label, extra=hide_strings(extra, hide))


def _int_or_none(value: Any) -> Optional[int]:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _dict_or_none(value: Any) -> Optional[Dict[str, Any]]:
    return dict(value) if isinstance(value, Mapping) else None
