"""Every error bitrix_fast raises, in one tree.

::

    BitrixError
    ├── TransportError            could not talk to the portal, or its answer was not JSON
    │   ├── ConnectError          the request never reached the server (refused, DNS, connect
    │   │                         timeout, TLS: an untrusted certificate, http/https mixed up)
    │   ├── ResponseTimeout       sent, but no answer in time: the server may have executed it
    │   ├── ConnectionDropped     sent, then the connection broke: the server may have executed it
    │   ├── BadResponse           an answer that is not a Bitrix envelope (an HTML error page, a
    │   │   │                     batch reply with commands missing, ...)
    │   │   └── BatchCut          a batch cut at the portal's 60 s, or given up on by a proxy
    │   │                         (504): split and its reads sent again, never resent whole
    │   └── Redirected            a 3xx: the portal lives elsewhere (.location); nothing ran
    ├── ApiError                  the portal answered {error, error_description}
    │   │   .code .description .status .method .item
    │   ├── RateLimited           QUERY_LIMIT_EXCEEDED (503)
    │   ├── OperationTimeLimit    OPERATION_TIME_LIMIT (429)
    │   ├── AuthError             NO_AUTH_FOUND, INVALID_CREDENTIALS, expired/invalid token, ...
    │   │   └── PortalAccessLost  an application's refresh token is dead on one portal
    │   │                         (.member_id, .domain): reinstall the app there
    │   ├── MethodNotFound        ERROR_METHOD_NOT_FOUND (404)
    │   ├── ValidationError       REST 3.0 refused the parameters (400): .validation per field
    │   └── IdempotencyKeyReused  REST 3.0: the Idempotency-Key was used with another body (422)
    ├── BatchError                some items failed or their fate is unknown; nothing is thrown away:
    │   │                         .results (succeeded), .errors (failed), .in_doubt (unknown),
    │   │                         .not_sent (never sent: the call stopped first)
    │   └── UpsertError           an upsert left items unwritten; .result (UpsertResult: IDs and
    │                             counts), .conflicts {key: record IDs} for keys held twice
    ├── KeyConflict               several records hold one key value (.field .value .ids):
    │                             nothing was written for that item
    ├── RetryExhausted            a retryable failure kept happening; .last_error is the last one
    ├── ListingError              a list method's replies cannot be paged completely (it ignores
    │                             start, or contradicts itself); .method .reason, nothing returned
    ├── Stopped                   the call stopped: nothing more is sent (a ``stop()``, an
    │   │                         auth error, a journal that failed, Ctrl+C)
    │   ├── DeadlineExceeded      the call's ``deadline=`` passed; says how far it got
    │   │                         (.progress; .partial: a BatchError for bulk calls)
    │   └── Cancelled             the BitrixAsync task was cancelled (an asyncio.CancelledError
    │                             reaches the awaiting code; this is its ``__cause__``)
    ├── LimiterError              a shared limiter (Redis) is unreachable; nothing was sent
    │   └── RedisUnavailable      (bitrix_fast.pacing.shared)
    ├── TokenStoreError           an application's token store failed, or holds no such portal
    │   └── TokenLockBusy         another process held a portal's token lock past the wait
    └── EventRejected             an incoming event post failed its check (application_token)

Messages name the method and the server's code, e.g.
``crm.deal.list: INVALID_CREDENTIALS (401) Invalid request credentials``, or the status
when the server sent no code (``crm.deal.get: Not found (HTTP 400)``), and the caller's
item when there is one (``crm.deal.add: item 7: ...``). They never carry a webhook code or
token: the transport redacts them before an error is built, and no error raised by
bitrix_fast keeps the HTTP library's exception (which holds the URL) in its
``__cause__`` / ``__context__``. Parameter mistakes raise the built-in ``TypeError`` /
``ValueError`` before anything is sent.

Two attributes say what may happen next: ``executed_maybe`` (False when the portal
provably did not run the request, so resending cannot duplicate it) and ``retryable``
(False when sending the same request again cannot succeed: a redirect, an untrusted
certificate).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type

if TYPE_CHECKING:  # pragma: no cover - a type only: errors import nothing of the package
    from .writes.safe.result import UpsertResult


class BitrixError(RuntimeError):
    """Base of every error raised by bitrix_fast."""


# -- Caught the way fast_bitrix24's errors are caught ------------------------------------------
# Scripts written for fast_bitrix24 catch RuntimeError (its README: raised when the reply was
# 200 but held an error; its code raises it when retries run out) and
# ErrorInServerResponseException (what its code raises for errors inside a batch reply). So
# BitrixError is a RuntimeError, and every error the portal answered with (ApiError,
# BatchError) is also an ErrorInServerResponseException, exported under that name.
# aiohttp.ClientResponseError (its error for an HTTP 4xx) and icontract's ViolationError
# cannot be matched without depending on those packages: ApiError has the same ``.status``,
# and parameter mistakes raise TypeError / ValueError, as fast_bitrix24's README promises.


class ErrorInServerResponseException(RuntimeError):
    """fast_bitrix24's name for "the portal answered with an error": the common base of
    :class:`ApiError` and :class:`BatchError`, never raised by itself."""


class TransportError(BitrixError):
    """The portal could not be reached, or it answered with something that is not JSON.

    ``executed_maybe`` says whether the server may have run the request: False only when the
    request provably never left this machine (so resending a write cannot duplicate it).
    ``retryable`` is False when the same request cannot succeed however often it is sent.
    """

    executed_maybe = True
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        status: Optional[int] = None,
        snippet: str = "",
        retryable: Optional[bool] = None,
    ) -> None:
        self.method = method
        self.status = status
        self.snippet = snippet
        self.message = message
        if retryable is not None:
            self.retryable = retryable
        text = f"{method}: {message}" if method else message
        if status is not None:
            text += f" (HTTP {status})"
        if snippet:
            text += f": {snippet!r}"
        super().__init__(text)

    def _kwargs(self) -> Dict[str, Any]:
        """The keyword arguments that rebuild this error (for copies and pickling)."""
        return {"method": self.method, "status": self.status, "snippet": self.snippet,
                "retryable": self.retryable}

    def __reduce__(self) -> Any:  # keeps errors picklable for process pools
        return (_rebuild, (type(self), (self.message,), self._kwargs()))


def _rebuild(cls: Type[BaseException], args: Tuple[Any, ...],
             kwargs: Dict[str, Any]) -> BaseException:
    return cls(*args, **kwargs)


class ConnectError(TransportError):
    """The connection could not be opened; the server never saw the request."""

    executed_maybe = False


class ResponseTimeout(TransportError):
    """No answer within the read timeout; the server may still have executed the request."""


class ConnectionDropped(TransportError):
    """The connection broke after the request was sent; the server may have executed it."""


class BadResponse(TransportError):
    """The answer was not a Bitrix JSON envelope (an HTML error page, a truncated body, ...),
    or a batch reply without the result of a command it was sent."""


class BatchCut(BadResponse):
    """A batch that did not finish: the portal cuts every request at 60 s, and a proxy in
    front of it answers 504 when it stops waiting. Some of its commands may have run. Reads
    are sent again in smaller batches, writes are in doubt; it is never resent whole.
    ``seconds``: how long the request was out before the answer came, when known."""

    seconds: Optional[float] = None


class Redirected(TransportError):
    """The portal answered with a redirect (3xx) to ``location`` (secrets redacted).

    A redirect is answered before any method runs, so nothing is in doubt because of it;
    it is never followed or retried: the address the client was given is wrong (``http://``
    for an ``https://`` portal, a portal that moved), and the user should use the new one.
    """

    executed_maybe = False
    retryable = False

    def __init__(self, message: str, *, location: str = "", **kwargs: Any) -> None:
        self.location = location
        super().__init__(message, **kwargs)

    def _kwargs(self) -> Dict[str, Any]:
        return {**super()._kwargs(), "location": self.location}


class ApiError(BitrixError, ErrorInServerResponseException):
    """The portal answered with ``{"error": ..., "error_description": ...}``."""

    def __init__(
        self,
        code: str,
        description: str = "",
        *,
        status: Optional[int] = None,
        method: str = "",
        command_label: Optional[str] = None,
        extra: Optional[Mapping[str, Any]] = None,
        item: Optional[int] = None,
    ) -> None:
        self.code = code
        self.description = description
        self.status = status
        self.method = method
        self.command_label = command_label
        self.extra = dict(extra or {})
        #: position of the caller's item (in ``call(method, items)``) this error is about
        self.item = item
        super().__init__(self._message())

    def _message(self) -> str:
        where = self.method
        if self.item is not None:
            where = f"{where}: item {self.item}" if where else f"item {self.item}"
        # Batch labels (c0007) are ours, not the caller's: they never reach a message.
        if self.code:
            status = f" ({self.status})" if self.status is not None else ""
            text = f"{self.code}{status} {self.description}".rstrip()
        else:
            # Legacy methods answer with an empty code and only a text (crm.deal.list 400).
            text = self.description or "the portal reported an error without a code"
            if self.status is not None:
                text += f" (HTTP {self.status})"
        return f"{where}: {text}" if where else text

    def __reduce__(self) -> Any:  # keeps errors picklable for process pools
        return (
            _rebuild_api_error,
            (type(self), self.code, self.description, self.status, self.method,
             self.command_label, self.extra, self.item),
        )


def _rebuild_api_error(cls: Type["ApiError"], code: str, description: str,
                       status: Optional[int], method: str, command_label: Optional[str],
                       extra: Mapping[str, Any], item: Optional[int] = None) -> "ApiError":
    return cls(code, description, status=status, method=method,
               command_label=command_label, extra=extra, item=item)


class RateLimited(ApiError):
    """QUERY_LIMIT_EXCEEDED (HTTP 503): the portal's leaky bucket refused the request unexecuted."""


class OperationTimeLimit(ApiError):
    """OPERATION_TIME_LIMIT (HTTP 429): the method spent its server-time budget for now."""


class AuthError(ApiError):
    """The portal rejected the credentials (webhook code, OAuth token, scope)."""


class MethodNotFound(ApiError):
    """ERROR_METHOD_NOT_FOUND (HTTP 404)."""


class ValidationError(ApiError):
    """REST 3.0 refused the request's parameters (HTTP 400,
    ``BITRIX_REST_V3_EXCEPTION_VALIDATION_*``, or an invalid ``Idempotency-Key``).
    ``validation`` lists ``{"field": ..., "message": ...}`` for each field the portal named.
    Nothing ran: sending the same request again fails the same way."""

    @property
    def validation(self) -> List[Dict[str, Any]]:
        found = self.extra.get("validation")
        return [entry for entry in found if isinstance(entry, dict)] \
            if isinstance(found, list) else []


class IdempotencyKeyReused(ApiError):
    """REST 3.0 (HTTP 422): this ``Idempotency-Key`` was used before, within the portal's 24
    hours, for a request with another body. The portal ran nothing for this one. bitrix_fast
    sends a new key for every item of every call and the same body on every resend, so this
    means a key of yours (``keys=``) was given to two different items or calls."""


class KeyConflict(BitrixError):
    """Several portal records hold the key value of one item (``field`` = ``value``): an
    upsert cannot tell which to update, and a keyed add cannot tell which one it created.
    Nothing was written for that item. ``ids`` are the records' IDs."""

    def __init__(self, method: str, field: str, value: Any, ids: Sequence[int],
                 item: Optional[int] = None) -> None:
        self.method = method
        self.field = field
        self.value = value
        self.ids = list(ids)
        self.item = item
        where = f"{method}: item {item}" if item is not None else method
        super().__init__(f"{where}: {len(self.ids)} records hold {field} {value!r} "
                         f"(IDs {', '.join(str(i) for i in self.ids)}); nothing was written "
                         f"for this item")

    def __reduce__(self) -> Any:
        return (type(self), (self.method, self.field, self.value, self.ids, self.item))


class PortalAccessLost(AuthError):
    """An application can no longer reach one portal: the OAuth server refused its refresh
    token (``invalid_grant``: the app was removed there, or the token was not used for 180
    days). ``member_id`` and ``domain`` name the portal; the token store has marked it, so
    calls to it fail at once until the app is installed there again. Other portals go on.

    Both live in ``extra`` (``member_id``, ``domain``), so copies and pickles keep them.
    """

    @property
    def member_id(self) -> str:
        return str(self.extra.get("member_id", ""))

    @property
    def domain(self) -> str:
        return str(self.extra.get("domain", ""))

    @classmethod
    def of(cls, member_id: str, domain: str, code: str, description: str,
           method: str = "") -> "PortalAccessLost":
        """The error for portal ``member_id`` (at ``domain``), refused with ``code``."""
        where = f"portal {member_id}" + (f" ({domain})" if domain else "")
        text = (f"{where}: the application's refresh token is no longer accepted "
                f"({description or code}); install the application on the portal again")
        return cls(code, text, status=None, method=method,
                   extra={"member_id": member_id, "domain": domain})


class BatchError(BitrixError, ErrorInServerResponseException):
    """Some items of a bulk call failed or may not have been executed.

    Nothing is discarded: ``results`` maps each item that succeeded to its result, ``errors``
    maps each failed item to its ``ApiError``, and ``in_doubt`` maps each item whose fate is
    unknown (the request may or may not have been executed) to the error that hid it, and
    ``not_sent`` maps each item never sent (the call stopped first, e.g. on an authentication
    error; safe to send again) to the reason. Keys are input positions for ``call()``, command labels for ``call_batch()`` and IDs for
    ``get_by_ID()``; every mapping is in input order.
    """

    def __init__(
        self,
        method: str,
        *,
        results: Optional[Dict[Any, Any]] = None,
        errors: Optional[Dict[Any, BitrixError]] = None,
        in_doubt: Optional[Dict[Any, BitrixError]] = None,
        not_sent: Optional[Dict[Any, Optional[BaseException]]] = None,
    ) -> None:
        self.method = method
        self.results: Dict[Any, Any] = dict(results or {})
        self.errors: Dict[Any, BitrixError] = dict(errors or {})
        self.in_doubt: Dict[Any, BitrixError] = dict(in_doubt or {})
        self.not_sent: Dict[Any, Optional[BaseException]] = dict(not_sent or {})
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [f"{len(self.results)} succeeded"]
        if self.errors:
            first_key, first = next(iter(self.errors.items()))
            codes = sorted({_short(e) for e in self.errors.values()})
            # An ApiError that names its item says so itself; others get the key here.
            first_text = (str(first) if getattr(first, "item", None) is not None
                          else f"item {first_key!r}: {first}")
            parts.append(f"{len(self.errors)} failed ({', '.join(codes)}; "
                         f"first: {first_text})")
        if self.in_doubt:
            parts.append(f"{len(self.in_doubt)} in doubt (may have been executed; "
                         f"check before resending)")
        if self.not_sent:
            parts.append(f"{len(self.not_sent)} not sent (safe to send again)")
        return f"{self.method}: " + ", ".join(parts)


def _short(error: BaseException) -> str:
    """A few words naming an error: its code, else its text, else its class."""
    code = getattr(error, "code", "")
    if code:
        return str(code)
    description = getattr(error, "description", "")
    if description:
        return description if len(description) <= 40 else description[:39] + "…"
    return type(error).__name__


class UpsertError(BatchError):
    """An upsert wrote what it could and left some items unwritten. ``result`` is the
    :class:`~bitrix_fast.writes.safe.result.UpsertResult` of the whole call (the IDs in item
    order, the counts added / updated / unchanged); ``results`` / ``errors`` / ``in_doubt``
    / ``not_sent`` are keyed by item position as for any bulk call, and ``conflicts`` maps
    each key value held by several records to their IDs (those items are in ``errors``
    as :class:`KeyConflict`, and nothing was written for them)."""

    def __init__(self, method: str, result: "UpsertResult", *,
                 conflicts: Optional[Dict[Any, List[int]]] = None, **mappings: Any) -> None:
        self.result = result
        self.conflicts: Dict[Any, List[int]] = dict(conflicts or {})
        super().__init__(method, **mappings)

    def _message(self) -> str:
        text = super()._message()
        if not self.conflicts:
            return text
        shown = [f"{key!r} (IDs {', '.join(str(i) for i in ids)})"
                 for key, ids in list(self.conflicts.items())[:5]]
        more = len(self.conflicts) - len(shown)
        held = f"{len(self.conflicts)} key{'s' if len(self.conflicts) != 1 else ''}"
        return (f"{text}; {held} held by several records, nothing written for them: "
                f"{', '.join(shown)}" + (f" and {more} more" if more > 0 else ""))

    def __reduce__(self) -> Any:
        return (_rebuild_upsert_error, (type(self), self.method, self.result, self.conflicts,
                                        self.results, self.errors, self.in_doubt,
                                        self.not_sent))


def _rebuild_upsert_error(cls: Type["UpsertError"], method: str, result: "UpsertResult",
                          conflicts: Dict[Any, List[int]], results: Dict[Any, Any],
                          errors: Dict[Any, BitrixError], in_doubt: Dict[Any, BitrixError],
                          not_sent: Dict[Any, Optional[BaseException]]) -> "UpsertError":
    return cls(method, result, conflicts=conflicts, results=results, errors=errors,
               in_doubt=in_doubt, not_sent=not_sent)


class Stopped(BitrixError):
    """The call was stopped -- ``stop()``, an authentication error, a journal that could not
    be written, Ctrl+C, a deadline, a cancel -- and nothing more is sent. Carried by the work
    that was never sent because of it (a bulk call's ``NOT_SENT`` items), and by work still
    running when waiting for it ended (then it may have run: ``IN_DOUBT``)."""

    executed_maybe = False
    retryable = False


class DeadlineExceeded(Stopped):
    """The call's ``deadline`` (seconds) passed before it was done: nothing more was sent,
    and no wait outlasted it. ``progress`` says how far it got (``"12,500 rows"``); for
    ``call(method, items)`` and ``get_by_ID`` ``partial`` is the :class:`BatchError` with
    every result, error, item in doubt and item never sent."""

    def __init__(self, method: str, seconds: float, progress: str = "",
                 partial: Optional["BatchError"] = None) -> None:
        self.method = method
        self.seconds = seconds
        self.progress = progress
        self.partial = partial
        text = f"{method}: deadline of {seconds:g} s passed"
        if progress:
            text += f" after {progress}"
        if partial is not None:
            text += f" ({partial._message().split(': ', 1)[-1]})"
        super().__init__(text)

    def __reduce__(self) -> Any:
        return (type(self), (self.method, self.seconds, self.progress, self.partial))


class Cancelled(Stopped):
    """The ``BitrixAsync`` task this call ran for was cancelled: nothing more was sent.
    For ``call(method, items)`` and ``get_by_ID``, ``partial`` is the :class:`BatchError`
    naming every item that succeeded, is in doubt or was never sent."""

    def __init__(self, message: str = "", partial: Optional["BatchError"] = None) -> None:
        self.partial = partial
        super().__init__(message)

    def __reduce__(self) -> Any:
        return (type(self), (str(self), self.partial))


class RetryExhausted(BitrixError):
    """A request kept failing with retryable errors until its retry allowance ran out, or
    failed the same way often enough to show that more attempts cannot help (``reason``)."""

    def __init__(self, method: str, attempts: int, last_error: BaseException,
                 reason: str = "") -> None:
        self.method = method
        self.attempts = attempts
        self.last_error = last_error
        self.reason = reason
        plural = "attempt" if attempts == 1 else "attempts"
        why = f" ({reason})" if reason else ""
        last = str(last_error)
        if method and last.startswith(f"{method}: "):
            last = last[len(method) + 2:]  # the method is named once, up front
        super().__init__(f"{method}: gave up after {attempts} {plural}{why}; "
                         f"last error: {last}")

    def __reduce__(self) -> Any:
        return (type(self), (self.method, self.attempts, self.last_error, self.reason))


class ListingError(BitrixError):
    """A list method answered in a way no paging can read completely: it ignores ``start``,
    its pages contradict what was asked, or it never stops. Raised instead of returning a
    list with rows silently missing; ``reason`` says what the server ignored."""

    def __init__(self, method: str, reason: str) -> None:
        self.method = method
        self.reason = reason
        super().__init__(f"{method}: {reason}")


class LimiterError(BitrixError):
    """The limiter that paces requests failed (a shared one lost its store). Nothing was sent,
    and resending is pointless until the limiter is back: never retried automatically."""

    executed_maybe = False


class TokenStoreError(BitrixError):
    """An application's token store (:mod:`bitrix_fast.tokens`) failed, or holds no portal
    of that ``member_id``. The message names the store (never its password) and the portal;
    nothing was sent to the portal."""

    executed_maybe = False
    retryable = False


class TokenLockBusy(TokenStoreError):
    """Another process held a portal's token lock longer than this one would wait. A holder
    that died frees it after its lease; one that is alive is refreshing the tokens."""


class EventRejected(BitrixError):
    """An incoming event post (ONAPPINSTALL, ONAPPUNINSTALL, any bound event) failed its
    check: a wrong or missing ``application_token``, a portal the store does not know, or a
    body that is not an event. Answer such a request with HTTP 403 and do nothing else.
    ``reason`` says which check failed; no token appears in it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"event rejected: {reason}")

    def __reduce__(self) -> Any:
        return (type(self), (self.reason,))


class IncompleteListWarning(RuntimeWarning, UserWarning):
    """A listing ended with fewer distinct rows than the server's ``total``, and nothing the
    replies showed (rows seen twice, pages cut short by joins) explains the difference.
    A ``RuntimeWarning`` as fast_bitrix24's, and a ``UserWarning``: caught either way."""


def is_refusal(error: BaseException) -> bool:
    """True for the portal's refusals (503 QUERY_LIMIT_EXCEEDED, 429 OPERATION_TIME_LIMIT),
    answered before anything ran: a refused request or command may always be sent again.
    Per-command errors in a batch get the same classes from :func:`api_error`."""
    return isinstance(error, (RateLimited, OperationTimeLimit))


#: A batch held more commands than the portal runs (50, or fewer where it is configured so).
BATCH_TOO_LONG = "ERROR_BATCH_LENGTH_EXCEEDED"


def too_long(error: BaseException) -> bool:
    """True for ERROR_BATCH_LENGTH_EXCEEDED: the command was not run (past the portal's
    batch length), so it may be sent again in a shorter batch, write or not."""
    return isinstance(error, ApiError) and error.code.upper() == BATCH_TOO_LONG


def may_read_again(error: BaseException) -> bool:
    """True when a read that failed this way may simply be sent again, in a smaller batch
    where its batch was too big: refused, cut at 60 s (or 504), or past the batch length."""
    return is_refusal(error) or too_long(error) or isinstance(error, BatchCut)


def with_method(error: BitrixError, method: str) -> BitrixError:
    """``error`` as if raised by ``method``: a batch that failed as a whole is reported under
    the method its commands called (``crm.deal.list: INVALID_CREDENTIALS (401) ...``)."""
    if isinstance(error, ApiError):
        new: BitrixError = type(error)(error.code, error.description, status=error.status,
                                       method=method, command_label=error.command_label,
                                       extra=error.extra, item=error.item)
    elif isinstance(error, TransportError):
        new = type(error)(error.message, **{**error._kwargs(), "method": method})
    elif isinstance(error, RetryExhausted):
        new = RetryExhausted(method, error.attempts, with_method(error.last_error, method)
                             if isinstance(error.last_error, BitrixError) else error.last_error,
                             error.reason)
    else:
        return error
    new.__cause__ = new.last_error if isinstance(new, RetryExhausted) else error.__cause__
    return new


def with_item(error: BitrixError, item: int) -> BitrixError:
    """``error`` as the error of the caller's item number ``item`` (its position in
    ``call(method, items)``): the message names the item, not an internal batch label."""
    if isinstance(error, ApiError):
        new = type(error)(error.code, error.description, status=error.status,
                          method=error.method, command_label=error.command_label,
                          extra=error.extra, item=item)
        new.__cause__ = error.__cause__
        return new
    return error


#: Which ApiError subclass a server code maps to; codes compare upper-cased.
_CODE_CLASSES = {
    "QUERY_LIMIT_EXCEEDED": RateLimited,
    "OPERATION_TIME_LIMIT": OperationTimeLimit,
    "ERROR_METHOD_NOT_FOUND": MethodNotFound,
    "NO_AUTH_FOUND": AuthError,
    "INVALID_CREDENTIALS": AuthError,
    "EXPIRED_TOKEN": AuthError,
    "INVALID_TOKEN": AuthError,
    "INSUFFICIENT_SCOPE": AuthError,
    "AUTHORIZATION_ERROR": AuthError,
    "USER_ACCESS_ERROR": AuthError,
    "APPLICATION_NOT_FOUND": AuthError,
    "INVALID_GRANT": AuthError,
    "INVALID_CLIENT": AuthError,
}


#: REST 3.0 codes are ``BITRIX_REST_V3_EXCEPTION_<NAME>``; these names choose a class.
_V3_PREFIX = "BITRIX_REST_V3_EXCEPTION_"


def v3_error(code: Any, message: Any = "", *, status: Optional[int] = None,
             method: str = "", extra: Optional[Mapping[str, Any]] = None) -> ApiError:
    """The most specific ApiError for a REST 3.0 error (``{"error": {"code", "message",
    "validation"}}``): 422 is the Idempotency-Key reused with another body; validation
    errors and an invalid key are ValidationError; the old codes (QUERY_LIMIT_EXCEEDED,
    expired_token, ...) and an unknown method map as in :func:`api_error`; any other 401
    is an AuthError."""
    code = "" if code is None else str(code)
    upper = code.upper()
    name = upper[len(_V3_PREFIX):] if upper.startswith(_V3_PREFIX) else ""
    cls: Type[ApiError]
    if status == 422:
        cls = IdempotencyKeyReused
    elif name.startswith("VALIDATION") or "IDEMPOTENCYKEY" in name:
        cls = ValidationError
    elif upper in _CODE_CLASSES:
        cls = _CODE_CLASSES[upper]
    elif name.startswith("METHODNOTFOUND"):
        cls = MethodNotFound
    elif status == 401:
        cls = AuthError
    else:
        cls = ApiError
    return cls(code, "" if message is None else str(message), status=status, method=method,
               extra=extra)


def api_error(
    code: Any,
    description: Any = "",
    *,
    status: Optional[int] = None,
    method: str = "",
    command_label: Optional[str] = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> ApiError:
    """Build the most specific ApiError for a server error code (the one place that chooses)."""
    code = "" if code is None else str(code)
    cls = _CODE_CLASSES.get(code.upper(), ApiError)
    return cls(code, "" if description is None else str(description), status=status,
               method=method, command_label=command_label, extra=extra)
