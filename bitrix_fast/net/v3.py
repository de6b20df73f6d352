"""Where REST 3.0 lives: ``/rest/api/`` in front of what the old REST's address holds.

``https://<portal>/rest/<user>/<code>/`` (a webhook) calls ``.../rest/api/<user>/<code>/<method>``;
``https://<portal>/rest/`` (OAuth, the token in the body) calls ``.../rest/api/<method>``
(api-reference/rest-v3/index.md). The same credentials sign both.
"""
from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["v3_url"]


def v3_url(base_url: str, method: str) -> str:
    """The REST 3.0 address of ``method`` for a REST base URL (ValueError when the base has
    no ``/rest/`` segment to put ``api/`` after: a proxy's own path cannot be guessed)."""
    parts = urlsplit(base_url)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    at = path.rfind("/rest/")
    if at < 0:
        raise ValueError("REST 3.0 needs the portal's own address (.../rest/<user>/<code>/ "
                         "or .../rest/): this one has no /rest/ in its path")
    tail = path[at + len("/rest/"):]
    if not tail.startswith("api/"):
        tail = "api/" + tail
    return f"{parts.scheme}://{parts.netloc}{path[:at]}/rest/{tail}{method}"
