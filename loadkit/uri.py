"""Request paths as URI templates (RFC 6570, through the ``uritemplate`` library), compiled once per step.

``{var}`` is a simple expansion: every character outside RFC 3986's unreserved set is percent-encoded,
``/`` included (``books/x`` -> ``books%2Fx``), so a value always stays one path segment or one query value.
``{+var}`` is a reserved expansion: ``/``, ``?``, ``&`` and the other reserved characters are kept, so a
value may be several segments or a whole path (``get: "{+link}"`` with a link extracted from a page). The
other RFC 6570 operators (``{?q,page}``, ``{/segments}``) work too. As browsers do, the fragment (``#...``)
is never sent. ``${NAME}`` reads the environment (a secret) and is not a template expression.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from uritemplate import URITemplate

# The scenario's two placeholders: ``${NAME}`` reads the environment (a secret, never saved); ``{name}`` is a
# variable (data, extracted values) in form fields, headers and bodies (paths take all of RFC 6570).
ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_EXPRESSION = re.compile(r"(?<!\$)\{[^{}]*\}")


def template_variables(path: str) -> set[str]:
    """Names of the variables a path template uses (``${ENV}`` references are not variables)."""
    if not _EXPRESSION.search(path):
        return set()
    return set(URITemplate(ENV.sub("", path)).variable_names)


def fresh_name(base: str, taken: set[str]) -> str:
    """A placeholder name from ``base`` (already slugged; empty: ``value``) that is not in ``taken``:
    ``v_`` before a leading digit, ``_2``, ``_3`` ... after a repeat; added to ``taken``."""
    base = base or "value"
    if base[0].isdigit():
        base = f"v_{base}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def starts_with_expression(path: str) -> bool:
    """Whether the whole path begins with a template expression (``{+link}``), not a literal ``/``."""
    return bool(_EXPRESSION.match(path))


class PathTemplate:
    """A step's path, compiled once; :meth:`expand` runs on every request."""

    __slots__ = ("source", "_template", "_literal")

    def __init__(self, path: str, environ: Mapping[str, str] | None = None) -> None:
        self.source = path
        if environ is not None and ENV.search(path):
            # a secret from the environment is literal text of the template, encoded as one value
            path = ENV.sub(lambda m: quote(environ[m.group(1)], safe=""), path)
        self._template = URITemplate(path) if _EXPRESSION.search(path) else None
        self._literal = path

    @property
    def variables(self) -> set[str]:
        """The variables the template expands."""
        return set(self._template.variable_names) if self._template is not None else set()

    def expand(self, values: Mapping[str, Any]) -> str:
        """The path as it goes on the wire: variables expanded per RFC 6570, the fragment dropped."""
        if self._template is None:
            return self._literal
        url = self._template.expand({name: values[name] for name in self._template.variable_names
                                     if name in values})
        return url.partition("#")[0]


__all__ = ["ENV", "VARIABLE", "PathTemplate", "fresh_name", "starts_with_expression", "template_variables"]
