"""bitrix_fast: a fast, limit-respecting sync client for the Bitrix24 REST API."""
import logging
from typing import TYPE_CHECKING, Any

from .__version__ import __version__
from .errors import (ApiError, AuthError, BadResponse, BatchError, BitrixError, ConnectError, Cancelled,
    ConnectionDropped, DeadlineExceeded, ErrorInServerResponseException, IncompleteListWarning,
    LimiterError, ListingError, MethodNotFound, OperationTimeLimit, RateLimited, Redirected,
    ResponseTimeout, RetryExhausted, TransportError)

if TYPE_CHECKING:
    # What type checkers and IDEs see: the real classes, signatures and all. At run time
    # they load lazily through __getattr__ below.
    from .async_client import BitrixAsync
    from .net.oauth import OAuthRefresher
    from .client import Bitrix

logging.getLogger(__name__).addHandler(logging.NullHandler())

# The client (and requests with it) loads on first use: the package's pytest plugin imports
# this package in every pytest run of every project that installs bitrix_fast.
_LAZY = {"Bitrix": ".client", "BitrixAsync": ".async_client", "OAuthRefresher": ".net.oauth"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bitrix_fast' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value

__all__ = [
    "ApiError",
    "AuthError",
    "BadResponse",
    "BatchError",
    "Bitrix",
    "BitrixAsync",
    "BitrixError",
    "Cancelled",
    "ConnectError",
    "ConnectionDropped",
    "DeadlineExceeded",
    "ErrorInServerResponseException",
    "IncompleteListWarning",
    "LimiterError",
    "ListingError",
    "MethodNotFound",
    "OAuthRefresher",
    "OperationTimeLimit",
    "RateLimited",
    "Redirected",
    "ResponseTimeout",
    "RetryExhausted",
    "TransportError",
    "__version__",
]
