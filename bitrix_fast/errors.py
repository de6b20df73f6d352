"""Every error bitrix_fast raises, in one tree.

::

    BitrixError
    ├── TransportError            could not talk to the portal, or its answer was not JSON
    │   ├── ConnectError          the request never reached the server (refused, DNS, connect timeout)
    │   ├── ResponseTimeout       sent, but no answer in time: the server may have executed it
    │   ├── ConnectionDropped     sent, then the connection broke: the server may have executed it
    │   └── BadResponse           an answer that is not a Bitrix envelope (an HTML error page, ...)
    ├── ApiError                  the portal answered {error, error_description}
    │   │   .code .description .status .method .command_label
    │   ├── RateLimited           QUERY_LIMIT_EXCEEDED (503)
    │   ├── OperationTimeLimit    OPERATION_TIME_LIMIT (429)
    │   ├── AuthError             NO_AUTH_FOUND, INVALID_CREDENTIALS, expired/invalid token, ...
    │   └── MethodNotFound        ERROR_METHOD_NOT_FOUND (404)
    ├── BatchError                some items failed or their fate is unknown; nothing is thrown away:
    │                             .results (succeeded), .errors (failed), .in_doubt (unknown),
    │                             .not_sent (never sent: the call stopped first)
    ├── RetryExhausted            a retryable failure kept happening; .last_error is the last one
    └── LimiterError              a shared limiter (Redis) is unreachable; nothing was sent
        └── RedisUnavailable      (bitrix_fast.redis)

Messages name the method and the server's code, e.g.
``crm.deal.list: INVALID_CREDENTIALS (401) Invalid request credentials``, and never carry a
webhook code or token: the transport redacts them before an error is built.
Parameter mistakes raise the built-in ``TypeError`` / ``ValueError`` before anything is sent.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional


class BitrixError(Exception):
    """Base of every error raised by bitrix_fast."""


class TransportError(BitrixError):
    """The portal could not be reached, or it answered with something that is not JSON.

    ``executed_maybe`` says whether the server may have run the request: False only when the
    request provably never left this machine (so resending a write cannot duplicate it).
    """

    executed_maybe = True

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        status: Optional[int] = None,
        snippet: str = "",
    ) -> None:
        self.method = method
        self.status = status
        self.snippet = snippet
        self.message = message
        text = f"{method}: {message}" if method else message
        if status is not None:
            text += f" (HTTP {status})"
        if snippet:
            text += f": {snippet!r}"
        super().__init__(text)


class ConnectError(TransportError):
    """The connection could not be opened; the server never saw the request."""

    executed_maybe = False


class ResponseTimeout(TransportError):
    """No answer within the read timeout; the server may still have executed the request."""


class ConnectionDropped(TransportError):
    """The connection broke after the request was sent; the server may have executed it."""


class BadResponse(TransportError):
    """The answer was not a Bitrix JSON envelope (an HTML error page, a truncated body, ...)."""


class ApiError(BitrixError):
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
        code = self.code if self.code else "(no code)"
        status = f" ({self.status})" if self.status is not None else ""
        where = self.method
        if self.item is not None:
            where = f"{where}: item {self.item}" if where else f"item {self.item}"
        elif self.command_label is not None:
            where = f"{where} [{self.command_label}]" if where else f"[{self.command_label}]"
        text = f"{code}{status} {self.description}".rstrip()
        return f"{where}: {text}" if where else text

    def __reduce__(self):  # keeps errors picklable for process pools
        return (
            _rebuild_api_error,
            (type(self), self.code, self.description, self.status, self.method,
             self.command_label, self.extra, self.item),
        )


def _rebuild_api_error(cls, code, description, status, method, command_label, extra,
                       item=None):
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


class BatchError(BitrixError):
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
        self.results = dict(results or {})
        self.errors = dict(errors or {})
        self.in_doubt = dict(in_doubt or {})
        self.not_sent = dict(not_sent or {})
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [f"{len(self.results)} succeeded"]
        if self.errors:
            first_key, first = next(iter(self.errors.items()))
            codes = sorted({getattr(e, "code", type(e).__name__) or "(no code)"
                            for e in self.errors.values()})
            parts.append(f"{len(self.errors)} failed ({', '.join(codes)}; "
                         f"first: item {first_key!r}: {first})")
        if self.in_doubt:
            parts.append(f"{len(self.in_doubt)} in doubt (may have been executed; "
                         f"check before resending)")
        if self.not_sent:
            parts.append(f"{len(self.not_sent)} not sent (safe to send again)")
        return f"{self.method}: " + ", ".join(parts)


class RetryExhausted(BitrixError):
    """A request kept failing with retryable errors until its retry allowance ran out."""

    def __init__(self, method: str, attempts: int, last_error: BaseException) -> None:
        self.method = method
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(f"{method}: gave up after {attempts} attempts; last error: {last_error}")


class LimiterError(BitrixError):
    """The limiter that paces requests failed (a shared one lost its store). Nothing was sent,
    and resending is pointless until the limiter is back: never retried automatically."""

    executed_maybe = False


def is_refusal(error: BaseException) -> bool:
    """True for the portal's refusals (503 QUERY_LIMIT_EXCEEDED, 429 OPERATION_TIME_LIMIT),
    answered before anything ran: a refused request or command may always be sent again.
    Per-command errors in a batch get the same classes from :func:`api_error`."""
    return isinstance(error, (RateLimited, OperationTimeLimit))


def with_method(error: BitrixError, method: str) -> BitrixError:
    """``error`` as if raised by ``method``: a batch that failed as a whole is reported under
    the method its commands called (``crm.deal.list: INVALID_CREDENTIALS (401) ...``)."""
    if isinstance(error, ApiError):
        new: BitrixError = type(error)(error.code, error.description, status=error.status,
                                       method=method, command_label=error.command_label,
                                       extra=error.extra, item=error.item)
    elif isinstance(error, TransportError):
        new = type(error)(error.message, method=method, status=error.status,
                          snippet=error.snippet)
    elif isinstance(error, RetryExhausted):
        new = RetryExhausted(method, error.attempts, with_method(error.last_error, method)
                             if isinstance(error.last_error, BitrixError) else error.last_error)
    else:
        return error
    new.__cause__ = error.__cause__
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
