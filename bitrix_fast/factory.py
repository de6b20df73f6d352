"""The one place the parts of a client are built and wired, from a :class:`ClientConfig`.

``Bitrix``, ``BitrixAsync``, the command line and the mirror all get their parts here. Each
part receives only what it needs, through typed contracts: the transport
(:class:`~bitrix_fast.net.transport.Transport`), the credentials, the pacing parts, the clock.
A transport and a clock may be injected, so a test builds a complete client that talks to an
in-process sandbox portal on a fake clock: no socket, no sleep
(:mod:`bitrix_fast.testing.memory`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from .clock import SYSTEM_CLOCK, Clock
from .config import ClientConfig
from .net.credentials import Credentials, TokenAuth, Webhook
from .net.sender import Sender
from .net.transport import RequestsTransport, Transport
from .pacing import bucket_level
from .pacing.billing import BilledTime
from .pacing.bucket import TokenBucket
from .pacing.budget import OperatingBudget
from .pacing.gate import ConcurrencyGate
from .pacing.inflight import InFlight
from .pacing.meter import Meter
from .pacing.room import BatchRoom
from .pacing.protocols import Budget, ForeignLimiter, RateLimiter, SharedLimiter, SimpleLimiter
from .pacing.throttle import AdaptiveThrottle
from .listing.ranges import Pace
from .protocol.redaction import redact
from .run.engine import Engine, Pacing, Stats
from .run.pool import WorkerPool
from .run.retry import RetryBudget
from .run.scheduler import Scheduler

#: Tokens of the portal's burst left unused. Requests arrive a little later or earlier than
#: their tokens were granted (threads, the GIL, the network); a portal running at its limit
#: refuses the one that arrives early. Two tokens absorb 1 s of jitter at 2 req/s and 0.1 s at
#: 20 req/s (measured on the sandbox: 2 refusals in 6 stress runs without, none with).
HEADROOM = 2


@dataclass(frozen=True)
class Parts:
    """A client's parts, wired."""

    config: ClientConfig
    clock: Clock
    credentials: Credentials
    sender: Sender
    limiter: RateLimiter
    engine: Engine
    scheduler: Scheduler
    pool: WorkerPool
    #: what listings know of the portal's pace: the clock, its burst, the batch room
    pace: Pace


def build(config: ClientConfig, *, transport: Optional[Transport] = None,
          clock: Optional[Clock] = None, credentials: Optional[Credentials] = None) -> Parts:
    """Every part of a client for ``config``; ``transport`` and ``clock`` replace the real
    ones (HTTP through ``requests``, the system clock), ``credentials`` the ones the config
    names (an OAuth application's portal brings tokens from its store)."""
    clock = clock or SYSTEM_CLOCK
    credentials = credentials if credentials is not None else make_credentials(config, clock)
    if transport is None:
        transport = RequestsTransport(
            credentials.base_url, session=config.session, pool_size=config.workers,
            verify=config.ssl, hide=lambda text: redact(text, credentials.secrets))
    sender = Sender(credentials, transport, clock=clock, timeout=config.timeout)
    limiter = make_limiter(config, credentials, clock)
    budget = make_budget(config, limiter, clock, owner=fingerprint(credentials))
    workers = config.workers
    billed = BilledTime()
    room = BatchRoom()
    pacing = Pacing(
        limiter=limiter,
        budget=budget,
        throttle=AdaptiveThrottle(limiter.rate, workers, clock=clock),
        gate=ConcurrencyGate(workers),
        inflight=InFlight(workers),
        billed=billed,
        meter=Meter(room, billed, budget),
        respect_budget=config.respect_velocity_policy,
    )
    engine = Engine(sender, credentials, pacing, retry=config.retry,
                    retry_budget=RetryBudget(), clock=clock, stats=Stats())
    pool = WorkerPool(workers)
    pace = Pace(clock=clock, burst=limiter.burst, rate=config.requests_per_second,
                room=room.commands, free=lambda: limiter.free_tokens)
    return Parts(config=config, clock=clock, credentials=credentials, sender=sender,
                 limiter=limiter, engine=engine, scheduler=Scheduler(engine, pool), pool=pool,
                 pace=pace)


def fingerprint(credentials: Credentials) -> str:
    """Who the portal bills (a webhook or an application), as a short digest of the REST
    address -- which holds a webhook's code -- so it names the credential without revealing
    it."""
    return hashlib.sha256(credentials.base_url.encode("utf-8")).hexdigest()[:12]


def make_credentials(config: ClientConfig, clock: Clock = SYSTEM_CLOCK) -> Credentials:
    """A webhook, or OAuth tokens from ``token_func`` against the REST endpoint (renewed
    just before they expire, by ``clock``)."""
    if config.token_func is not None:
        return TokenAuth(config.webhook, config.token_func, clock=clock.now)
    return Webhook(config.webhook)


def make_limiter(config: ClientConfig, credentials: Credentials, clock: Clock) -> RateLimiter:
    """The limiter given (a shared one, or the user's own, wrapped), else the portal's bucket,
    its level shared with every other client of that portal on this machine."""
    given = config.limiter
    if isinstance(given, (TokenBucket, SharedLimiter)):
        return given
    if given is not None:
        return ForeignLimiter(_as_simple(given))
    portal = urlsplit(credentials.base_url).netloc
    state = bucket_level.state_for(portal)
    rate, burst = config.requests_per_second, config.request_pool_size
    if burst > HEADROOM:
        return TokenBucket(rate=rate, burst=burst, clock=clock, headroom=HEADROOM, state=state)
    # A burst too small to spare a token: pace 2% under the rate instead.
    return TokenBucket(rate=rate * 0.98, burst=burst, clock=clock, state=state)


def make_budget(config: ClientConfig, limiter: RateLimiter, clock: Clock, *,
                owner: str = "") -> Budget:
    """The operating budget: the shared one of a shared limiter (the part of it that is
    ``owner``'s), else this client's own."""
    if isinstance(limiter, SharedLimiter):
        return limiter.budget(config.operating_time_limit, owner=owner)
    return OperatingBudget(limit=config.operating_time_limit, clock=clock,
                           margin=config.budget_margin)


def _as_simple(limiter: object) -> SimpleLimiter:
    # Documented as "any object with acquire(), on_refused(), rate and burst": taken at its
    # word, as duck typing; a missing attribute fails at its first use with the name.
    return limiter  # type: ignore[return-value]
