"""One portal's tokens, as a token store keeps them.

A :class:`TokenSet` is an immutable value: the portal (``member_id``, which never changes,
and ``domain``, which may), where its REST API lives (``client_endpoint``), the access and
refresh tokens with the access token's expiry as Unix time, the ``application_token`` that
event posts from the portal must carry, and two things the application learns while it
runs: ``dead`` (why the portal can no longer be reached, once the OAuth server refused its
refresh token) and ``pending`` (offline-event batches read but not yet cleared, by
``process_id``, with the Unix time until which their reader holds them).

Its ``repr`` and ``str`` show no token. :meth:`TokenSet.to_json` / :meth:`TokenSet.from_json`
are the one serialisation every store uses.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Mapping, Optional, Tuple

__all__ = ["TokenSet"]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _seconds(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no number of seconds


@dataclass(frozen=True)
class TokenSet:
    """One portal's tokens (see the module docs)."""

    member_id: str
    domain: str
    client_endpoint: str
    access_token: str
    refresh_token: str
    #: Unix time the access token stops working
    expires_at: float
    #: Unix time the access token was received (its lifetime is ``expires_at - issued_at``)
    issued_at: float = 0.0
    application_token: str = ""
    #: why the portal cannot be reached any more (the OAuth server's refusal), or ""
    dead: str = ""
    #: offline-event batches being handled: process_id -> Unix time their reader's lease ends
    pending: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_response(cls, reply: Mapping[str, Any], *, now: float,
                      previous: Optional["TokenSet"] = None) -> "TokenSet":
        """The token set in an OAuth server's reply, an ONAPPINSTALL post's ``auth`` or an
        OAuth callback's parameters (``AUTH_ID``/``REFRESH_ID``/``AUTH_EXPIRES`` as well).

        ``now`` is the Unix time the reply arrived; ``expires_in`` counts from it (a reply
        with only ``expires`` is read as that Unix time). What the reply lacks is kept from
        ``previous`` (an OAuth server's reply has no ``application_token``; its ``domain``
        is the OAuth server's own). Raises ``ValueError`` naming the first field missing.
        """
        def pick(*names: str) -> str:
            for name in names:
                value = _text(reply.get(name))
                if value:
                    return value
            return ""

        member_id = pick("member_id") or (previous.member_id if previous else "")
        access = pick("access_token", "AUTH_ID")
        refresh = pick("refresh_token", "REFRESH_ID")
        endpoint = pick("client_endpoint") or (previous.client_endpoint if previous else "")
        domain = pick("DOMAIN", "domain")
        if previous is not None and (not domain or domain.startswith("oauth.")):
            # The OAuth server answers with its own host in ``domain``.
            domain = previous.domain
        if not endpoint and domain:
            endpoint = f"https://{domain}/rest/"
        for name, value in (("member_id", member_id), ("access_token", access),
                            ("refresh_token", refresh), ("client_endpoint", endpoint)):
            if not value:
                raise ValueError(f"the token set has no {name}")
        if not endpoint.endswith("/"):
            endpoint += "/"
        lifetime = _seconds(reply.get("expires_in", reply.get("AUTH_EXPIRES")))
        if lifetime is not None:
            expires_at = now + lifetime
        else:
            expires = _seconds(reply.get("expires"))
            expires_at = expires if expires is not None else now
        application_token = pick("application_token") or (
            previous.application_token if previous else "")
        return cls(member_id=member_id, domain=domain, client_endpoint=endpoint,
                   access_token=access, refresh_token=refresh, expires_at=expires_at,
                   issued_at=now, application_token=application_token,
                   pending=dict(previous.pending) if previous else {})

    def stale(self, now: float, early: float) -> bool:
        """True when the access token expires within ``early`` seconds of ``now``, or within
        a tenth of its lifetime when that is shorter (a token living 5 s is renewed 0.5 s
        before it ends, not 60 s before it begins)."""
        lifetime = self.expires_at - self.issued_at
        margin = min(early, lifetime / 10) if lifetime > 0 else early
        return now >= self.expires_at - margin

    def refreshed(self, reply: Mapping[str, Any], now: float) -> "TokenSet":
        """This portal after a refresh: the reply's tokens, everything else kept."""
        return TokenSet.from_response(reply, now=now, previous=self)

    def killed(self, reason: str) -> "TokenSet":
        return replace(self, dead=reason or "refused")

    def with_pending(self, pending: Mapping[str, float]) -> "TokenSet":
        return replace(self, pending=dict(pending))

    # -- storage ---------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({
            "member_id": self.member_id, "domain": self.domain,
            "client_endpoint": self.client_endpoint, "access_token": self.access_token,
            "refresh_token": self.refresh_token, "expires_at": self.expires_at,
            "issued_at": self.issued_at,
            "application_token": self.application_token, "dead": self.dead,
            "pending": dict(self.pending),
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TokenSet":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a stored token set is not a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TokenSet":
        pending = data.get("pending")
        expires_at = _seconds(data.get("expires_at"))
        issued_at = _seconds(data.get("issued_at"))
        return cls(member_id=_text(data.get("member_id")), domain=_text(data.get("domain")),
                   client_endpoint=_text(data.get("client_endpoint")),
                   access_token=_text(data.get("access_token")),
                   refresh_token=_text(data.get("refresh_token")),
                   expires_at=expires_at if expires_at is not None else 0.0,
                   issued_at=issued_at if issued_at is not None else 0.0,
                   application_token=_text(data.get("application_token")),
                   dead=_text(data.get("dead")),
                   pending={str(k): float(v) for k, v in pending.items()}
                   if isinstance(pending, dict) else {})

    def to_dict(self) -> Dict[str, Any]:
        data: Dict[str, Any] = json.loads(self.to_json())
        return data

    # -- never show a token ------------------------------------------------------------------
    @property
    def secrets(self) -> Tuple[str, ...]:
        return tuple(s for s in (self.access_token, self.refresh_token,
                                 self.application_token) if s)

    def __repr__(self) -> str:
        state = f", dead={self.dead!r}" if self.dead else ""
        return (f"TokenSet(member_id={self.member_id!r}, domain={self.domain!r}, "
                f"expires_at={self.expires_at:.0f}{state})")

    __str__ = __repr__
