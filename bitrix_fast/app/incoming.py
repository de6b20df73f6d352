"""Incoming event posts: what a portal sends an application's handler URL, read into a value.

A portal posts events as a PHP form (``application/x-www-form-urlencoded``)::

    event=ONAPPINSTALL&data[VERSION]=1&ts=1700000000&auth[member_id]=...&
    auth[application_token]=...&auth[access_token]=...&auth[refresh_token]=...

(api-reference/common/events/on-app-install.md). :func:`parse_event` reads that (or a JSON
body) into an :class:`IncomingEvent`; checking it is :class:`~.oauth_app.OAuthApp`'s job.
Nested brackets nest (``data[FIELDS][ID]``), ``+`` is a space, later duplicates win.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Union
from urllib.parse import parse_qsl

from ..errors import EventRejected

__all__ = ["IncomingEvent", "parse_event", "parse_form"]

#: larger bodies are not events (a portal's posts are a few kilobytes)
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class IncomingEvent:
    """One event post: ``event`` (upper-case name), ``data``, ``auth`` (never shown: it holds
    tokens), ``ts`` and the portal's ``member_id`` and ``domain``."""

    event: str
    data: Any
    member_id: str
    domain: str
    ts: str = ""
    auth: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def application_token(self) -> str:
        value = self.auth.get("application_token")
        return value if isinstance(value, str) else ""


def parse_form(text: str) -> Dict[str, Any]:
    """A PHP-style form body as nested dicts (``a[b][c]=v`` -> ``{"a": {"b": {"c": "v"}}}``,
    ``a[]=v`` appends)."""
    out: Dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        head, _, rest = name.partition("[")
        keys: List[str] = [head]
        while rest:
            key, _, rest = rest.partition("]")
            keys.append(key)
            rest = rest[1:] if rest.startswith("[") else ""
        node: Dict[str, Any] = out
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            if key == "" and depth > 0:
                key = str(len(node))
            if last:
                node[key] = value
            else:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child
    return out


def parse_event(body: Union[bytes, str, Mapping[str, Any]],
                content_type: str = "application/x-www-form-urlencoded") -> IncomingEvent:
    """The event in a post body (form or JSON), or a parsed mapping (a framework's
    ``request.POST`` does not nest brackets: give the raw body instead).

    :raises EventRejected: not an event (no ``event`` name, no ``auth[member_id]``)
    """
    if isinstance(body, Mapping):
        fields: Mapping[str, Any] = body
    else:
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        if len(raw) > MAX_BODY:
            raise EventRejected("the body is too large to be an event post")
        text = raw.decode("utf-8", errors="replace")
        if content_type.split(";")[0].strip().lower() == "application/json":
            try:
                loaded = json.loads(text)
            except ValueError:
                raise EventRejected("the body is not valid JSON") from None
            if not isinstance(loaded, dict):
                raise EventRejected("the body is not a JSON object")
            fields = loaded
        else:
            fields = parse_form(text)
    name = fields.get("event")
    auth = fields.get("auth")
    if not isinstance(name, str) or not name.strip():
        raise EventRejected("the post names no event")
    if not isinstance(auth, Mapping) or not isinstance(auth.get("member_id"), str) \
            or not auth.get("member_id"):
        raise EventRejected(f"{name.strip().upper()}: the post has no auth[member_id]")
    domain = auth.get("domain")
    ts = fields.get("ts")
    return IncomingEvent(event=name.strip().upper(), data=fields.get("data"),
                         member_id=str(auth["member_id"]),
                         domain=domain if isinstance(domain, str) else "",
                         ts=ts if isinstance(ts, str) else str(ts or ""), auth=dict(auth))
