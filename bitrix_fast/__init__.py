"""bitrix_fast: a fast, limit-respecting sync client for the Bitrix24 REST API.

Importing the package changes nothing in the host process: no signal handler, no file, no
logging handler but the library logger's ``NullHandler``. The first client made installs a
logging filter that keeps webhook codes and tokens out of urllib3's DEBUG lines.
"""
import logging

from .__version__ import __version__
from .app import OAuthApp
from .async_client import BitrixAsync
from .client import Bitrix, Page, Rows
from .config import ClientConfig
from .errors import (
    ApiError,
    AuthError,
    BadResponse,
    BatchCut,
    BatchError,
    BitrixError,
    Cancelled,
    ConnectError,
    ConnectionDropped,
    DeadlineExceeded,
    ErrorInServerResponseException,
    EventRejected,
    IdempotencyKeyReused,
    IncompleteListWarning,
    KeyConflict,
    LimiterError,
    ListingError,
    MethodNotFound,
    OperationTimeLimit,
    PortalAccessLost,
    RateLimited,
    Redirected,
    ResponseTimeout,
    RetryExhausted,
    Stopped,
    TokenLockBusy,
    TokenStoreError,
    TransportError,
    UpsertError,
    ValidationError,
)
from .net.oauth import OAuthRefresher
from .run.retry import Retry
from .writes.bulk import BulkCall, Interrupted, Outcome, Status
from .writes.safe.result import UpsertResult

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ApiError",
    "AuthError",
    "BadResponse",
    "BatchCut",
    "BatchError",
    "Bitrix",
    "BitrixAsync",
    "BitrixError",
    "BulkCall",
    "Cancelled",
    "ClientConfig",
    "ConnectError",
    "ConnectionDropped",
    "DeadlineExceeded",
    "ErrorInServerResponseException",
    "EventRejected",
    "IdempotencyKeyReused",
    "IncompleteListWarning",
    "Interrupted",
    "KeyConflict",
    "LimiterError",
    "ListingError",
    "MethodNotFound",
    "OAuthApp",
    "OAuthRefresher",
    "OperationTimeLimit",
    "Outcome",
    "Page",
    "PortalAccessLost",
    "RateLimited",
    "Redirected",
    "ResponseTimeout",
    "Retry",
    "RetryExhausted",
    "Rows",
    "Status",
    "Stopped",
    "TokenLockBusy",
    "TokenStoreError",
    "TransportError",
    "UpsertError",
    "UpsertResult",
    "ValidationError",
    "__version__",
]
