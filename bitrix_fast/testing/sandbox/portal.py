"""The :class:`Sandbox`: one local Bitrix24-compatible portal, wired and served.

::

    with Sandbox(deals=5000, plan="x10", cost="light") as portal:
        bx = bitrix_fast.Bitrix(portal.webhook)
        ...
        assert portal.stats()["refused_503"] == 0

    # a portal that misbehaves and takes its time, as real ones do
    Sandbox(deals=30_000, quirks="joined_pages,no_total", cost="real-small", workers=50)

    # no socket and no real sleep: the client reaches it through a transport, on its clock
    with Sandbox(deals=500, http=False, clock=FakeClock()) as portal:
        bx = bitrix_fast.Bitrix(portal.webhook, transport=portal.transport(), clock=portal.clock)

Everything is built here and passed in (store, credentials, limits, cost, faults, stats,
dispatcher, router, HTTP server); nothing below knows the Sandbox. Every reading of time
and every wait goes through one :class:`~bitrix_fast.clock.Clock`, the system clock unless
one is given. The HTTP server runs in a daemon thread on 127.0.0.1 (port 0 = any free
port) until :meth:`Sandbox.close`; with ``http=False`` there is none, and the portal's
addresses name a host that cannot resolve (``http://sandbox-<hex>.invalid``), so only its
:meth:`~Sandbox.transport` reaches it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Union

from ...clock import SYSTEM_CLOCK, Clock, SystemClock
from ...protocol.encoding import build_query
from ...pacing import bucket_level as bucket_state
from .auth import Credentials
from .churn import Churner
from .cost import CostModel, resolve_cost
from .dispatch import Dispatcher, Options
from .faults import FaultPlan
from .limits import LeakyBucket, OperatingLedger, Plan, make_plan
from .oauth import OAuthServer
from .offline import EventMethods, OfflineQueue
from .v3 import V3Methods
from .quirks import Quirks
from .doors import Door, HttpDoor, MemoryDoor
from .routing import Router
from .stats import Stats
from .workers import WorkerPool

if TYPE_CHECKING:
    from ..memory import MemoryTransport

__all__ = ["Sandbox"]


class Sandbox:
    """A running local portal. Use as a context manager, or call :meth:`start` / :meth:`close`.

    :param deals, leads, contacts, companies, tasks, users: rows to seed
    :param productrows, elapseditems, commentitems: rows of ``crm.productrow.list`` (product
        rows of deals), ``task.elapseditem.getlist`` and ``task.commentitem.getlist`` (time
        records and comments of tasks) to seed
    :param quotes, smart_items: quotes and items of each smart process to seed (their
        product rows come with them, 1.5 per owner on average)
    :param id_gaps: ``uniform``, ``sparse`` or ``clustered`` ID spaces
    :param plan: ``standard`` (50 burst, 2/s), ``enterprise`` (250, 5/s), ``x10`` (time x10)
        or ``<plan>-x<N>``; ``burst``, ``rate``, ``operating_limit``, ``operating_window``
        override single numbers
    :param cost: a preset name (``none``, ``light``, ``heavy``, ``real-small``,
        ``real-big``, ``real-wide``, their ``-x10`` forms, ``x10-latency``; see
        :mod:`.cost`) or a :class:`~.cost.CostModel`
    :param quirks: real portals' list misbehaviours to imitate, ``"joined_pages,no_total"``
        or an iterable of names (see :mod:`.quirks`); none by default
    :param joined_every: ``joined_pages`` doubles the rows whose ID is divisible by this
    :param workers: at most this many requests execute at once, the rest wait in a queue
        (a PHP-FPM pool); None = no cap
    :param faults: ``"500=0.05,502=0.03,drop=0.01,slow=0.02"`` or a dict
    :param churn: rows inserted/deleted per second while serving (0 = none)
    :param token_ttl: lifetime of OAuth access tokens, seconds
    :param db: SQLite file to keep the data in (default: memory)
    :param batch_billing: ``own`` (docs) or ``batch`` (b24jssdk PR #539)
    :param count_factor: every COUNT costs this many times the cost model's figure (2: a
        COUNT twice as slow, the rest unchanged)
    :param time_fields: ``full``, ``no_operating`` (self-hosted portals) or ``none`` (replies
        without ``time``); see :mod:`.replies`
    :param cut: every request is cut at this many seconds of modelled server time and
        answered 504 (commands started before it ran); None: never. Default 60, as in cloud
    :param batch_length: commands a batch runs; past it ``ERROR_BATCH_LENGTH_EXCEEDED``,
        per command (``batch_length_error="commands"``) or for the whole batch (``"whole"``)
    :param count_refused: refused requests also fill the leaky bucket
    :param store: serve this store object instead of a new seeded SQLite one (the caller
        keeps it: no seeding, not closed on exit); it needs ``knows`` and ``call``
    :param clock: the portal's time (:class:`~bitrix_fast.clock.Clock`): the leaky bucket,
        the operating budget, token expiry, row stamps, the stats' timeline, churn, the cost
        model's and ``slow`` faults' waits. Default: the system clock. Give the client the
        same one (``portal.clock``); on a :class:`~bitrix_fast.testing.clock.FakeClock`
        churn runs as requests arrive instead of in a thread (see :mod:`.churn`)
    :param http: serve over HTTP on ``host:port`` (default); with False there is no socket
        and :meth:`transport` is the only way in
    :param oauth: the application's OAuth server when several portals serve one app
        (:class:`~.apps.AppPortals` builds them); default: an app of this portal's own

    The application's offline event queue is :attr:`offline` (``event.bind`` with
    ``event_type=offline``, ``event.offline.*``); deleting a deal, lead, contact or company
    queues its ``ONCRM*DELETE`` event when that is bound.
    """

    def __init__(
        self,
        *,
        deals: int = 0,
        leads: int = 0,
        contacts: int = 0,
        companies: int = 0,
        tasks: int = 0,
        users: int = 1,
        productrows: int = 0,
        elapseditems: int = 0,
        commentitems: int = 0,
        quotes: int = 0,
        smart_items: int = 0,
        id_gaps: str = "uniform",
        plan: str = "standard",
        cost: Union[str, CostModel, None] = "none",
        faults: Union[str, Mapping[str, float], None] = None,
        churn: float = 0.0,
        token_ttl: float = 3600.0,
        db: Optional[str] = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        batch_billing: str = "own",
        burst: Optional[float] = None,
        rate: Optional[float] = None,
        operating_limit: Optional[float] = None,
        operating_window: Optional[float] = None,
        slow_seconds: float = 2.0,
        classic_out_of_range_page1: bool = True,
        minus1_total: str = "auto",
        count_refused: bool = False,
        churn_entity: str = "deal",
        store: Any = None,
        quirks: Union[str, Iterable[str], None] = None,
        joined_every: int = 7,
        workers: Optional[int] = None,
        clock: Optional[Clock] = None,
        http: bool = True,
        oauth: Optional[OAuthServer] = None,
        count_factor: float = 1.0,
        time_fields: str = "full",
        cut: Optional[float] = 60.0,
        batch_length: int = 50,
        batch_length_error: str = "commands",
    ) -> None:
        # Validate everything before any thread or socket exists.
        self.plan: Plan = make_plan(
            plan, burst=burst, rate=rate, operating_limit=operating_limit, operating_window=operating_window
        )
        if not (isinstance(count_factor, (int, float)) and count_factor >= 0):
            raise ValueError(f"count_factor must be a number >= 0, not {count_factor!r}")
        self.cost: CostModel = resolve_cost(cost).with_count(float(count_factor))
        self.faults = FaultPlan(faults, seed=seed, slow_seconds=slow_seconds)
        self._quirks = Quirks(quirks, joined_every=joined_every)  # type: ignore[arg-type]
        self.options = Options(
            batch_billing=batch_billing,
            classic_out_of_range_page1=classic_out_of_range_page1,
            minus1_total=minus1_total,
            quirks=self._quirks,
            time_fields=time_fields,
            cut=None if cut is None else float(cut),
            batch_length=batch_length,
            batch_length_error=batch_length_error,
        )
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self.http = bool(http)
        self.host = host
        self._requested_port = int(port)
        self._seed = seed
        self._churn_rate = float(churn)
        self._churn_entity = churn_entity
        self._counts = dict(deals=deals, leads=leads, contacts=contacts, companies=companies, tasks=tasks,
                            users=users, productrows=productrows, elapseditems=elapseditems,
                            commentitems=commentitems, id_gaps=id_gaps, seed=seed,
                            quotes=quotes, smart_items=smart_items)
        self._db = db or ":memory:"
        self.credentials = Credentials(token_ttl=token_ttl, clock=self.clock, oauth=oauth)
        self.offline = OfflineQueue(self.clock)
        self.stats_collector = Stats(self.clock)
        self.workers = WorkerPool(workers, self.stats_collector)
        self.bucket = LeakyBucket(self.plan.burst, self.plan.rate, count_refused=count_refused,
                                  clock=self.clock)
        self.ledger = OperatingLedger(
            self.plan.operating_limit, self.plan.operating_window,
            min_counted=self.plan.min_counted, clock=self.clock,
        )
        self._own_store = store is None
        self.store: Any = store
        self.churner: Optional[Churner] = None
        self._router: Optional[Router] = None
        self._door: Optional[Door] = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        """Seed the store and start serving; returns self. Idempotent."""
        if self._router is not None:
            return self
        if self._own_store:
            from .store import Store

            self.store = Store(path=self._db, clock=self.clock)
        try:
            if self._own_store:
                self.store.seed(**self._counts)
                self.store.watch_deletes(self.offline.deleted)
            dispatcher = Dispatcher(
                EventMethods(self.store, self.offline), self.credentials, self.bucket,
                self.ledger, self.cost, self.faults, self.stats_collector, self.options,
                workers=self.workers, clock=self.clock,
                # REST 3.0 methods write to the store itself (the event methods are v1 only)
                v3=V3Methods(self.store),
            )
            router = Router(dispatcher, self.credentials, self.stats_collector,
                            slow_seconds=self.faults.slow_seconds, on_request=self._catch_up)
            door: Door = (HttpDoor((self.host, self._requested_port), router,
                                   self.stats_collector, self.clock)
                          if self.http else MemoryDoor())
        except BaseException:
            if self._own_store:
                self.store.close()
                self.store = None
            raise
        self._router, self._door = router, door
        self.credentials.client_endpoint = self.rest_base
        self.credentials.server_endpoint = self.rest_base
        self.credentials.domain = door.netloc
        # A new portal's bucket is empty, whatever an earlier one on this port left behind
        # in the clients' shared record of it.
        bucket_state.forget(self.credentials.domain)
        # the timeline counts from when serving starts, not from before seeding
        self.stats_collector.reset()
        self.bucket.reset()
        door.open()
        if self._churn_rate > 0:
            self.start_churn()
        return self

    def close(self) -> None:
        """Stop churn and serving, cut open connections, close the store. Idempotent."""
        self.stop_churn()
        router, self._router = self._router, None
        if router is not None:
            router.close()  # transports handed out now fail to connect
        door, self._door = self._door, None
        if door is not None:
            door.close()
            if not self.http:
                # nobody can reach this host again: drop what clients recorded of it
                bucket_state.forget(door.netloc)
        if self.store is not None and self._own_store:
            self.store.close()
            self.store = None

    def transport(self) -> "MemoryTransport":
        """A transport into this portal that needs no socket (also for an HTTP portal): give
        it to the client with ``clock=portal.clock``. It fails to connect once the portal
        has closed."""
        if self._router is None:
            raise RuntimeError("the sandbox is not running")
        from ..memory import MemoryTransport

        return MemoryTransport(self._router, self.clock, self.base_url)

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def quirks(self) -> FrozenSet[str]:
        """The names of the quirks this portal imitates (see :mod:`.quirks`)."""
        return self._quirks.names

    # -- addresses -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The HTTP server's port (an in-memory portal has none)."""
        return self._running().port

    def _running(self) -> Door:
        if self._door is None:
            raise RuntimeError("the sandbox is not running")
        return self._door

    @property
    def base_url(self) -> str:
        return f"http://{self._running().netloc}"

    @property
    def rest_base(self) -> str:
        """The OAuth REST base (``client_endpoint``): append a method name."""
        return f"{self.base_url}/rest/"

    @property
    def webhook(self) -> str:
        """The incoming webhook URL; append a method name."""
        return f"{self.rest_base}{self.credentials.user_id}/{self.credentials.webhook_code}/"

    @property
    def oauth_endpoint(self) -> str:
        """The token endpoint (``grant_type=refresh_token`` / ``authorization_code``)."""
        return f"{self.base_url}/oauth/token/"

    @property
    def client_id(self) -> str:
        return self.credentials.client_id

    @property
    def client_secret(self) -> str:
        return self.credentials.client_secret

    # -- OAuth -------------------------------------------------------------------------------
    def issue_tokens(self, user_id: Optional[int] = None) -> Dict[str, Any]:
        """A token response as after installing the app (access + refresh token)."""
        return self.credentials.issue_tokens(user_id)

    def authorization_code(self, user_id: Optional[int] = None) -> str:
        return self.credentials.authorization_code(user_id)

    @property
    def member_id(self) -> str:
        """The portal's ``member_id``: how an application tells its portals apart."""
        return self.credentials.member_id

    def install_post(self, user_id: Optional[int] = None) -> bytes:
        """The body of the ONAPPINSTALL post this portal sends the app's handler
        (``application/x-www-form-urlencoded``, PHP style): fresh tokens and the
        ``application_token`` in ``auth[...]``."""
        return build_query(self.credentials.install_event(user_id)).encode("ascii")

    def uninstall_post(self, clean: bool = False) -> bytes:
        """The body of the ONAPPUNINSTALL post; the app's tokens stop working here."""
        return build_query(self.credentials.uninstall_event(clean)).encode("ascii")

    # -- observation -------------------------------------------------------------------------
    def stats(self, timeline: bool = False) -> Dict[str, Any]:
        return self.stats_collector.snapshot(timeline=timeline)

    def reset_stats(self) -> None:
        self.stats_collector.reset()

    def timeline(self, include_refused: bool = False) -> List[float]:
        """Arrival times (s since start/reset) of accepted ``/rest/`` requests."""
        return self.stats_collector.timeline(include_refused)

    def max_window_excess(self, burst: Optional[float] = None, rate: Optional[float] = None, *,
                          include_refused: bool = True) -> float:
        """<= 0 when no window of arrivals held more than ``burst + rate * t`` requests."""
        return self.stats_collector.max_window_excess(
            self.plan.burst if burst is None else burst,
            self.plan.rate if rate is None else rate,
            include_refused=include_refused,
        )

    # -- churn ---------------------------------------------------------------------------------
    def start_churn(self, ops_per_s: Optional[float] = None,
                    entity: Optional[str] = None) -> Churner:
        """Start inserting/deleting rows; returns the Churner. On the system clock it churns
        in a thread; on any other clock as requests arrive (see :mod:`.churn`)."""
        if self.store is None:
            raise RuntimeError("start the sandbox first")
        self.stop_churn()
        churner = Churner(
            self.store, ops_per_s=ops_per_s or self._churn_rate or 10.0,
            entity=entity or self._churn_entity, seed=self._seed, clock=self.clock,
        )
        if isinstance(self.clock, SystemClock):
            churner.start()
        else:
            churner.schedule()
        self.churner = churner
        return churner

    def stop_churn(self) -> None:
        """Stop churning; ``churner`` stays readable (what it inserted and deleted)."""
        if self.churner is not None:
            self.churner.stop()

    def _catch_up(self) -> None:
        churner = self.churner
        if churner is not None and not isinstance(self.clock, SystemClock):
            churner.catch_up()

    def __repr__(self) -> str:
        if self._router is None:
            state = "stopped"
        else:
            state = f"port={self.port}" if self.http else "in memory"
        quirks = f" quirks={','.join(sorted(self.quirks))}" if self.quirks else ""
        return f"<Sandbox {state} plan={self.plan} cost={self.cost}{quirks}>"
