"""Open311's two formats: XML with its declaration, every list in its wrapper, and JSON in the spec's mapping
of it (the Spark convention: a list is a bare array, even of one element; an empty element is null); and its error
lists, in whichever format was asked for."""
from __future__ import annotations

import json
import re
from xml.etree.ElementTree import Element, tostring

from flask import Response, request

# each list's element and the name of one of its items, as the spec's XML writes them
LIST_ITEMS = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
              "values": "value", "endpoints": "endpoint", "formats": "format",
              "service_request_updates": "request_update"}
MIMETYPES = {"xml": "text/xml", "json": "application/json"}
# what XML 1.0 cannot hold at all, even escaped: control characters other than tab and the line ends
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def asked_format() -> str:
    """The format the request's path asks for: json when it ends in .json, XML (the spec's must) otherwise."""
    return "json" if request.path.endswith(".json") else "xml"


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _element(tag: str, value) -> Element:
    element = Element(tag)
    if isinstance(value, dict):
        element.extend(_element(key, item) for key, item in value.items())
    elif isinstance(value, list):
        element.extend(_element(LIST_ITEMS[tag], item) for item in value)
    else:
        element.text = _text(value)
    return element


def to_xml(root: str, value) -> bytes:
    """The document, UTF-8 with the XML declaration: `root` wraps the value (a list's items in their elements)."""
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(_element(root, value), encoding="unicode").encode()


def _spark(value):
    """The value as JSON maps the XML written of it: an empty text, written as an empty element, is null."""
    if isinstance(value, dict):
        return {key: _spark(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_spark(item) for item in value]
    return None if value == "" else value


def respond(root: str, value, status: int = 200, fmt: str | None = None) -> Response:
    """The answer in the asked format: XML under `root`, or the bare JSON value (an array for a list)."""
    fmt = fmt or asked_format()
    if fmt == "json":
        body = json.dumps(_spark(value), ensure_ascii=False, separators=(",", ":")).encode()
    else:
        body = to_xml(root, value)
    return Response(body, status=status, content_type=f"{MIMETYPES[fmt]}; charset=utf-8")


def error_response(status: int, description: str) -> Response:
    """The spec's error list of one error, its code the HTTP status."""
    return respond("errors", [{"code": status, "description": description}], status)
