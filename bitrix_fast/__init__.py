"""bitrix_fast: a fast, limit-respecting sync client for the Bitrix24 REST API."""
import logging

from .__version__ import __version__
from .auth import OAuthRefresher
from .async_client import BitrixAsync
from .client import Bitrix
from .errors import (
    ApiError,
    AuthError,
    BadResponse,
    BatchError,
    BitrixError,
    ConnectError,
    ConnectionDropped,
    MethodNotFound,
    OperationTimeLimit,
    RateLimited,
    ResponseTimeout,
    RetryExhausted,
    TransportError,
)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ApiError",
    "AuthError",
    "BadResponse",
    "BatchError",
    "Bitrix",
    "BitrixAsync",
    "BitrixError",
    "ConnectError",
    "ConnectionDropped",
    "MethodNotFound",
    "OAuthRefresher",
    "OperationTimeLimit",
    "RateLimited",
    "ResponseTimeout",
    "RetryExhausted",
    "TransportError",
    "__version__",
]
