"""One OAuth application installed on several sandbox portals, the way a Marketplace or
integrator's app lives: one OAuth server, many portals.

::

    with AppPortals(2, deals=100, token_ttl=5, http=False, clock=FakeClock()) as cloud:
        app = OAuthApp(cloud.client_id, cloud.client_secret, store=FileTokenStore("t.json"),
                       token_url=cloud.token_url, transport=cloud.transport(),
                       clock=cloud.clock)
        for portal in cloud.portals:
            app.receive(portal.install_post(), "application/x-www-form-urlencoded")

Each portal is a full :class:`~.portal.Sandbox` with its own ``member_id``, host, leaky
bucket, operating budget, data, tokens and offline event queue; the application's
:class:`~.oauth.OAuthServer` (reachable at :attr:`AppPortals.token_url`, the first
portal's ``/oauth/token/``; any portal's would do) rotates refresh tokens and refuses a
spent one with ``invalid_grant``. :meth:`AppPortals.transport` reaches every portal and the
token endpoint without a socket.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional
from urllib.parse import urlsplit

from ...clock import SYSTEM_CLOCK, Clock
from ...errors import ConnectError
from ...net.transport import HttpRequest, HttpResponse, Transport
from .oauth import OAuthServer
from .portal import Sandbox

__all__ = ["AppPortals", "HostTransport"]


class HostTransport:
    """A transport that hands each request to the transport of the host it is addressed to
    (``host[:port]``); any other host: :class:`~bitrix_fast.errors.ConnectError`."""

    def __init__(self, routes: Mapping[str, Transport]) -> None:
        self._routes = {host.lower(): transport for host, transport in routes.items()}

    def exchange(self, request: HttpRequest) -> HttpResponse:
        host = urlsplit(request.url).netloc.rpartition("@")[2].lower()
        transport = self._routes.get(host)
        if transport is None:
            raise ConnectError(f"could not connect to {host}: not a portal of this "
                               f"application", method=request.method, retryable=False)
        return transport.exchange(request)

    def close(self) -> None:
        for transport in self._routes.values():
            transport.close()

    def __repr__(self) -> str:
        return f"<HostTransport {', '.join(sorted(self._routes))}>"


class AppPortals:
    """``portals`` sandbox portals serving one application (see the module docs).

    :param portals: how many
    :param clock: every portal's clock (give the application the same one)
    :param http: serve each portal over HTTP (default), or in this process only
    :param token_ttl: lifetime of access tokens, seconds
    :param options: the other :class:`~.portal.Sandbox` keywords, the same for each portal
        (``seed`` is offset per portal so their data differ)
    """

    def __init__(self, portals: int = 2, *, clock: Optional[Clock] = None, http: bool = True,
                 token_ttl: float = 3600.0, **options: Any) -> None:
        if isinstance(portals, bool) or not isinstance(portals, int) or portals < 1:
            raise ValueError("portals must be an int >= 1")
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self.oauth = OAuthServer(clock=self.clock)
        seed = int(options.pop("seed", 0))
        self.portals: List[Sandbox] = [
            Sandbox(clock=self.clock, http=http, token_ttl=token_ttl, oauth=self.oauth,
                    seed=seed + n, **options)
            for n in range(portals)]

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "AppPortals":
        try:
            for portal in self.portals:
                portal.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for portal in self.portals:
            portal.close()

    def __enter__(self) -> "AppPortals":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the application ---------------------------------------------------------------------
    @property
    def client_id(self) -> str:
        return self.oauth.client_id

    @property
    def client_secret(self) -> str:
        return self.oauth.client_secret

    @property
    def token_url(self) -> str:
        """The application's OAuth token endpoint."""
        return self.portals[0].oauth_endpoint

    def transport(self) -> HostTransport:
        """One transport into every portal (and so the token endpoint), no socket needed."""
        return HostTransport({urlsplit(p.base_url).netloc: p.transport() for p in self.portals})

    def portal(self, member_id: str) -> Sandbox:
        for portal in self.portals:
            if portal.member_id == member_id:
                return portal
        raise KeyError(f"no portal with member_id {member_id}")

    def stats(self) -> Dict[str, Any]:
        """``oauth`` (the server's counts) and each portal's stats by ``member_id``."""
        return {"oauth": self.oauth.stats(),
                "portals": {p.member_id: p.stats() for p in self.portals}}

    def __repr__(self) -> str:
        return f"<AppPortals {len(self.portals)} portals, {self.oauth!r}>"
