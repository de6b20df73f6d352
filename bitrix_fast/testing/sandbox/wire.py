"""What crosses the wire: request bodies in, reply bodies out.

In: a POST body becomes parameters the way ``rest_util.php getRequestData`` reads it:
``application/json`` is decoded (invalid JSON, NaN, or nesting deeper than PHP's 512
levels mean *no* body parameters, not an error; a top-level JSON list gives positional
keys), ``multipart/form-data`` fields are registered with PHP's name rules (file parts go
to ``$_FILES``, i.e. nowhere), and anything else, urlencoded forms included, is read as a
PHP query string.

Out: JSON as PHP's ``json_encode`` writes it by default (ASCII with ``\\uXXXX`` escapes,
which also keeps lone surrogates from a client's JSON encodable), or the ``.xml``
transport: everything inside ``<response>``, list items and numeric keys as ``<item>``
(``CRestServer::outputXml``).
"""
from __future__ import annotations

import json
from typing import Any, Dict, Tuple
from xml.sax.saxutils import escape

from .phpquery import PhpArray, parse_str, plain_dict, register

__all__ = ["parse_body", "encode", "to_xml", "JSON_TYPE", "XML_TYPE"]

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # PHP's json_decode has no NaN / Infinity


def _json_depth_ok(value: Any, limit: int = 512) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def _parse_json(body: bytes) -> Dict[str, Any]:
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return {}
    if isinstance(value, list):
        value = {str(i): v for i, v in enumerate(value)}
    if not isinstance(value, dict) or not _json_depth_ok(value):
        return {}
    return value


def _parse_multipart(body: bytes, content_type: str) -> Dict[str, Any]:
    """Fields of a multipart/form-data body; file parts go to PHP's $_FILES, i.e. nowhere."""
    boundary = ""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        return {}
    track = PhpArray()
    for chunk in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        name = filename = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header, _, value = line.partition(":")
            if header.strip().lower() != "content-disposition":
                continue
            for item in value.split(";")[1:]:
                key, _, raw = item.strip().partition("=")
                raw = raw.strip().strip('"')
                if key.lower() == "name":
                    name = raw
                elif key.lower() == "filename":
                    filename = raw
        if name is not None and filename is None:
            register(track, name, content.decode("utf-8", "replace"))
    return plain_dict(track)


def parse_body(method: str, content_type: str, body: bytes) -> Dict[str, Any]:
    """The parameters a POST body carries (PHP reads no body for other verbs)."""
    if method != "POST" or not body:
        return {}
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        return _parse_multipart(body, content_type)
    if kind == "application/json":
        return _parse_json(body)
    # urlencoded forms, and any other body, are read as a PHP query string
    return parse_str(body.decode("utf-8", "replace"))


def _tag(key: Any) -> str:
    name = str(key)
    if not name or name[0].isdigit() or not all(ch.isalnum() or ch in "_-." for ch in name):
        return "item"
    return name


def _xml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"<{_tag(k)}>{_xml_value(v)}</{_tag(k)}>" for k, v in value.items())
    if isinstance(value, list):
        return "".join(f"<item>{_xml_value(v)}</item>" for v in value)
    if value is None or value is False:
        return ""
    if value is True:
        return "1"  # PHP's string cast
    return escape(str(value))


def to_xml(value: Any) -> bytes:
    body = '<?xml version="1.0" encoding="utf-8"?><response>' + _xml_value(value) + "</response>"
    return body.encode("utf-8", "replace")


def encode(body: Any, transport: str = "json") -> Tuple[bytes, str]:
    """A reply value -> (bytes, Content-Type) for the requested transport."""
    if transport == "xml":
        return to_xml(body), XML_TYPE
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii"), JSON_TYPE
