"""What counts as a secret or personal value, for every importer (a HAR recording, access logs) and for the
run's artifacts: one set of rules, so a field one importer hides is never copied by another."""

from __future__ import annotations

import re

EMAIL = re.compile(r"[^@\s/?&=]+@[^@\s/?&=]+\.[A-Za-z]{2,}")
JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
# query, form or JSON field names that carry a credential, a session id, a signed URL's parts or personal data
SECRET_NAME = re.compile(r"pass(word|wd)?|pwd|secret|token|api[-_]?key|apikey|auth|session|sess_?id|^sid$|"
                         r"phpsessid|jsessionid|signature|^sig$|card|cc[-_]?num|^pan$|cvv|cvc|csc|iban|e-?mail|"
                         r"phone|otp|^code$|nonce|ticket|^key$|access[-_]?key|credential|^hash$|^ssn$",
                         re.IGNORECASE)
CARD = re.compile(r"^(?:\d[ -]?){13,19}$")
# request headers that carry credentials (lower case): never copied into a scenario or an artifact
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key", "api-key"})


def luhn(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (card numbers do)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def card_number(value: str) -> bool:
    """13 to 19 digits (spaces or dashes allowed) that pass the Luhn check."""
    compact = re.sub(r"[ -]", "", value)
    return bool(CARD.match(value)) and compact.isdigit() and luhn(compact)


def secret_name(name: str) -> bool:
    """A query or form field named like a credential, a session id or personal data."""
    return bool(SECRET_NAME.search(name))


__all__ = ["CARD", "EMAIL", "JWT", "SECRET_HEADERS", "SECRET_NAME", "card_number", "luhn", "secret_name"]
