"""A plain WSGI handler for an OAuth application's event posts: no framework needed.

The portal posts ONAPPINSTALL when the application is installed (with its tokens),
ONAPPUNINSTALL when it is removed, and any event the application bound, to the handler URL.
This handler checks each post (the ``application_token``; an install's tokens with the
OAuth server) and keeps the tokens in a store every worker of the application shares::

    BITRIX_CLIENT_ID=local.xxx BITRIX_CLIENT_SECRET=... \\
    BITRIX_TOKEN_STORE=sqlite:///tokens.sqlite python wsgi_events.py

then give the application ``http(s)://<this host>:8000/`` as its install and event handler.
Behind gunicorn: ``gunicorn 'wsgi_events:from_environment()'``.
"""
import json
import logging
import os
from wsgiref.simple_server import make_server

from bitrix_fast import EventRejected, OAuthApp
from bitrix_fast.tokens import SQLTokenStore

logger = logging.getLogger("wsgi_events")


def make_app(oauth_app, on_event=None):
    """The WSGI callable: POST bodies go to ``oauth_app.receive``; 403 for a post that
    fails its check, 405 for anything but POST. ``on_event(event)`` sees each accepted one."""

    def answer(start_response, status, payload):
        body = json.dumps(payload).encode("utf-8")
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        return [body]

    def application(environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST":
            return answer(start_response, "405 Method Not Allowed", {"error": "POST only"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        try:
            event = oauth_app.receive(body, environ.get("CONTENT_TYPE", ""))
        except EventRejected as error:
            logger.warning("%s", error)
            return answer(start_response, "403 Forbidden", {"error": "rejected"})
        if on_event is not None:
            on_event(event)
        return answer(start_response, "200 OK", {"event": event.event})

    return application


def from_environment():
    """The handler for the application named by BITRIX_CLIENT_ID / BITRIX_CLIENT_SECRET,
    its tokens in BITRIX_TOKEN_STORE (an SQLite file or a PostgreSQL URL)."""
    oauth_app = OAuthApp(os.environ["BITRIX_CLIENT_ID"], os.environ["BITRIX_CLIENT_SECRET"],
                         store=SQLTokenStore(os.environ.get("BITRIX_TOKEN_STORE",
                                                            "sqlite:///tokens.sqlite")))
    return make_app(oauth_app, on_event=lambda event: logger.info(
        "%s from portal %s", event.event, event.member_id))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    with make_server("", int(os.environ.get("PORT", "8000")), from_environment()) as server:
        server.serve_forever()
