"""Extractors as pure functions: the value a regex, a CSS selector or a JSON path finds in a response body.

The run stage calls :func:`extract_value` on every response of a step with ``extract:``; ``loadkit init
--from-har`` calls the same function on the recorded response to prove an extractor finds the recorded
value before writing it into a scenario.
"""

from __future__ import annotations

import json
import re
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from .scenario import Extractor


class NotFound(Exception):
    """The extractor found nothing; the message says what was looked for."""


def json_path(document: Any, path: str) -> Any:
    """Follow a dotted path (``items.0.id``) into parsed JSON; KeyError when absent."""
    node = document
    for part in path.split("."):
        if isinstance(node, list) and part.lstrip("-").isdigit():
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(path)
    return node


def normalized_text(text: str) -> str:
    """An element's text as a reader sees it: runs of white space become one space."""
    return " ".join(text.split())


def extract_value(extractor: Extractor, text: str) -> Any:
    """The value ``extractor`` finds in the body ``text``; :class:`NotFound` when it finds none."""
    if extractor.regex is not None:
        match = re.search(extractor.regex, text)
        if match is None:
            raise NotFound(f"regex {extractor.regex!r} did not match")
        return match.group(1)
    if extractor.css is not None:
        parser = LexborHTMLParser(text)
        if extractor.text is None and extractor.index == 0:
            node = parser.css_first(extractor.css)
        else:
            nodes = parser.css(extractor.css)
            if extractor.text is not None:
                nodes = [n for n in nodes if normalized_text(n.text()) == extractor.text]
            node = nodes[extractor.index] if len(nodes) > extractor.index else None
        if node is None:
            what = f"CSS selector {extractor.css!r}" + (f" with text {extractor.text!r}" if extractor.text else "") \
                + (f" (element {extractor.index})" if extractor.index else "")
            raise NotFound(f"{what} found nothing")
        value = node.attributes.get(extractor.attr) if extractor.attr else node.text(strip=True)
        if value is None:
            raise NotFound(f"CSS selector {extractor.css!r} found no {extractor.attr!r} attribute")
        return value
    assert extractor.json_path is not None
    try:
        return json_path(json.loads(text), extractor.json_path)
    except (ValueError, KeyError, IndexError, TypeError):
        raise NotFound(f"JSON path {extractor.json_path!r} not found") from None


__all__ = ["NotFound", "extract_value", "json_path", "normalized_text"]
