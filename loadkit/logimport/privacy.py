"""What from a log must never reach a scenario: visitors' addresses, e-mail addresses, tokens, session ids.

The rules (docs/scenario-format.md, "From your logs"):

- query parameters named like a secret or a session (``token``, ``password``, ``sid``, ``api_key``,
  ``email``, ``signature``, ...) and any query value that looks like one (an e-mail address, a JWT, a card
  number, a long random string) are dropped from the URL; their values are never kept;
- a request whose path holds an e-mail address or a token, or follows a one-time-link segment
  (``/reset-password/...``, ``/verify/...``, ``/unsubscribe/...``), is dropped whole (it cannot be replayed
  and would carry the secret);
- ``;jsessionid=...`` path parameters are cut off;
- visitors' addresses, user agents, referers and cookies are used in memory to tell visitors apart and
  never written; malformed-line samples are scrubbed (addresses, e-mail addresses, query values, tokens).
"""

from __future__ import annotations

import re

from ..sensitive import EMAIL, JWT, card_number

ONE_TIME = re.compile(r"^(reset|reset[-_]?password|password[-_]?reset|verify|verification|confirm|"
                      r"confirmation|activate|activation|unsubscribe|magic[-_]?link|invite|invitation|"
                      r"token|tokens|auth|oauth|sso|login|session|sessions)$", re.IGNORECASE)
IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
IPV6 = re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{0,4}\b|::1\b|::ffff:[0-9.]+")
QUERY_VALUE = re.compile(r"([?&][^=&\s\"]*=)[^&\s\"]*")
LONG_TOKEN = re.compile(r"\b[A-Za-z0-9_\-+/=]{20,}\b")


def looks_random(value: str) -> bool:
    """A long string mixing letters and digits (or upper and lower case): a token, not a word or a slug."""
    if len(value) < 20 or not re.fullmatch(r"[A-Za-z0-9_\-+/=.~%]+", value):
        return False
    classes = sum(1 for pattern in (r"[a-z]", r"[A-Z]", r"\d") if re.search(pattern, value))
    return classes >= 2 and not re.fullmatch(r"[a-z]+(-[a-z]+)*", value)


def secret_value(value: str) -> bool:
    """An e-mail address, a JWT, a card number or a random-looking token."""
    if EMAIL.search(value) or JWT.search(value):
        return True
    if card_number(value):
        return True
    # hex digests and UUIDs are content ids (a file's hash, an order's UUID): kept as data, like numbers
    return looks_random(value) and not re.fullmatch(r"[0-9a-f]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                                                   r"[0-9a-f]{12}", value.lower())


def scrub_line(line: str) -> str:
    """A log line safe to show: addresses, e-mail addresses, JWTs, query values and long tokens masked,
    control characters replaced."""
    line = printable(line)
    line = EMAIL.sub("<e-mail>", line)
    line = JWT.sub("<token>", line)
    line = QUERY_VALUE.sub(r"\1***", line)
    line = IPV6.sub("<address>", line)
    line = IPV4.sub("<address>", line)
    return LONG_TOKEN.sub("<token>", line)


def printable(text: str) -> str:
    """``text`` with control and other unprintable characters replaced by ``?`` (safe in a YAML comment)."""
    return "".join(c if c.isprintable() else "?" for c in text)
