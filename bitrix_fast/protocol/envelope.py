"""A reply's bytes as the portal meant them: an envelope, or one of our errors.

Pure: the sender hands in the status and the body it received; nothing here does I/O.
An ``{"error": ..., "error_description": ...}`` body becomes the most specific
:class:`~bitrix_fast.errors.ApiError`; anything that is not a Bitrix24 JSON envelope (an HTML
page from a proxy, a truncated body) a :class:`~bitrix_fast.errors.BadResponse` quoting its
first words; a 3xx a :class:`~bitrix_fast.errors.Redirected` naming where the portal points.
Every text taken from a reply passes through ``hide`` (redaction) first.
"""
from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

from ..errors import BadResponse, Redirected, api_error
from .redaction import hide_strings

#: How much of a body that is not an envelope an error quotes.
SNIPPET_CHARS = 200

Hide = Callable[[str], str]

#: nginx's page for an http:// request on its https port.
_PLAIN_ON_TLS_PORT = b"plain HTTP request was sent to HTTPS port"


def parse(method: str, status: int, content: bytes, hide: Hide) -> Any:
    """The envelope of a reply, an ApiError for an error envelope, or BadResponse."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    else:
        if isinstance(body, dict) and "error" in body and "result" not in body:
            extra = {k: v for k, v in body.items() if k not in ("error", "error_description")}
            code = body.get("error")
            raise api_error(hide(code) if isinstance(code, str) else code,
                            hide(str(body.get("error_description", ""))),
                            status=status, method=method, extra=hide_strings(extra, hide))
        if status < 400 and body is not None:
            return body
    text = " ".join(content[: SNIPPET_CHARS * 4].decode("utf-8", "replace").split())
    if status == 400 and _PLAIN_ON_TLS_PORT in content:
        # Refused by the web server before anything ran, and refused again every time.
        refused = BadResponse("the portal only speaks https://: use https:// in the address",
                              method=method, status=status, retryable=False)
        refused.executed_maybe = False
        raise refused
    raise BadResponse("the portal did not answer with a Bitrix24 JSON envelope",
                      method=method, status=status, snippet=hide(text)[:SNIPPET_CHARS])


def redirected(method: str, url: str, status: int, location: str,
               hide: Hide) -> Redirected:
    """The error for a 3xx answer to ``url``: where the portal points, and what to use."""
    if not location:
        return Redirected("the portal answered with a redirect that names no address",
                          method=method, status=status)
    target = urljoin(url, location)
    new_base = hide(_base_of(target, method) or target)
    old, new = urlsplit(url), urlsplit(target)
    if old.scheme == "http" and new.scheme == "https" and old.hostname == new.hostname:
        advice = f"use https:// in the address: {new_base}"
    elif old.hostname != new.hostname:
        advice = f"the portal has moved: use {new_base}"
    else:
        advice = f"use {new_base}"
    return Redirected(f"the portal redirects this request to {hide(target)}; {advice}",
                      method=method, status=status, location=hide(target))


def _base_of(target: str, method: str) -> str:
    """``https://portal/rest/1/code/`` from ``https://portal/rest/1/code/crm.deal.add``;
    "" when the address does not end with the method."""
    parts = urlsplit(target)
    path = parts.path.rstrip("/")
    for name in (method, method + ".json"):
        if path.lower().endswith("/" + name):
            return f"{parts.scheme}://{parts.netloc}{path[: -len(name)]}"
    return ""
