"""Form posts: an access log holds no request bodies, so the fields of each form come from the site itself.

With ``--target URL``, for each form post in the journeys loadkit fetches one example of the page the
visitors were on just before (one ``GET`` per form, nothing else), finds the form whose ``action`` is the
post's path, and writes its fields: a hidden field becomes an ``extract`` on that page (the value each
visitor's own page holds, e.g. a product id) sent back as ``{var}``; CSRF fields are left to
``csrf: auto``; a visible field keeps its default value, or, named like a secret or personal data (or
without a default), becomes a ``${NAME}`` reference to export. Without ``--target`` the post is written with
an empty form (plus the CSRF token ``csrf: auto`` adds) and the header says so; so is a form the page
shows only after earlier steps (a checkout form on a cart page a new visitor sees empty): loadkit never
posts anything to find it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from selectolax.lexbor import LexborHTMLParser

from ..sensitive import secret_name
from .privacy import secret_value

CSRF_FIELD = re.compile(r"^(_?csrf.*|csrfmiddlewaretoken|authenticity_token|__RequestVerificationToken|_token)$",
                        re.IGNORECASE)


@dataclass
class FormFields:
    """What a form post sends: literal or ``{var}`` values, and the extracts the page before needs."""

    form: dict[str, str] = field(default_factory=dict)
    extract: dict[str, dict[str, Any]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # ${NAME} -> field
    note: str = ""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "form"


def read_form(page_url: str, post_path: re.Pattern[str], prefix: str, client: httpx.Client) -> FormFields:
    """The fields of the form on ``page_url`` whose action matches ``post_path``."""
    out = FormFields()
    try:
        response = client.get(page_url)
    except httpx.HTTPError as exc:
        out.note = f"could not read {urlsplit(page_url).path} ({type(exc).__name__})"
        return out
    if "html" not in response.headers.get("content-type", ""):
        out.note = f"{urlsplit(page_url).path} is not an HTML page"
        return out
    parsed = LexborHTMLParser(response.text)
    for node in parsed.css("form"):
        action = node.attributes.get("action") or ""
        if not post_path.fullmatch(urlsplit(urljoin(str(response.url), action)).path):
            continue
        quoted = action.replace("\\", "\\\\").replace('"', '\\"')
        selector = f'form[action="{quoted}"]'
        for field_node in node.css("input[name], select[name], textarea[name], button[name]"):
            name = field_node.attributes.get("name") or ""
            kind = (field_node.attributes.get("type") or "").lower()
            value = field_node.attributes.get("value") or ""
            if not name or name in out.form or kind in ("file", "image", "reset"):
                continue
            if CSRF_FIELD.match(name):
                continue  # csrf: auto sends the page's token
            if kind == "hidden" and not secret_name(name):
                var = f"{prefix}_{_slug(name)}"
                name_q = name.replace('"', '\\"')
                out.extract[var] = {"css": f'{selector} input[name="{name_q}"]', "attr": "value"}
                out.form[name] = f"{{{var}}}"
            elif kind in ("checkbox", "radio") and not value:
                continue
            elif field_node.tag == "select":
                option = field_node.css_first("option")
                chosen = (option.attributes.get("value") or option.text()) if option is not None else ""
                out.form[name] = chosen or ""
            elif value and not secret_name(name) and not secret_value(value):
                out.form[name] = value
            else:
                env = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") or "FIELD"
                out.env[env] = name
                out.form[name] = f"${{{env}}}"
        return out
    out.note = (f"no form posting to it on {urlsplit(page_url).path} as a new visitor sees it (it may appear only "
                "after earlier steps)")
    return out


def client() -> httpx.Client:
    """The client that reads forms: loadkit's own user agent, a short timeout, redirects followed."""
    from .. import __version__

    return httpx.Client(timeout=10.0, follow_redirects=True, headers={"User-Agent": f"loadkit/{__version__}"})
