"""Secrets kept out of text: webhook codes, tokens and client secrets never reach a message.

Its own module, below everything that builds messages (transport, auth, the Redis code), so
each can use it without importing the others.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable
from urllib.parse import quote, quote_plus

REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (and its URL-quoted form) replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
                text = text.replace(form, REDACTED)
    return text


def hide_strings(value: Any, hide: Callable[[str], str]) -> Any:
    """A JSON-like value (the extra keys of an error reply) with ``hide`` applied to every
    string in it, keys included."""
    if isinstance(value, str):
        return hide(value)
    if isinstance(value, dict):
        return {hide(k) if isinstance(k, str) else k: hide_strings(v, hide)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [hide_strings(item, hide) for item in value]
    return value
