"""Values a recording sent that must never be copied into a scenario: card numbers, e-mail addresses,
tokens, passwords (they become ``${ENV}`` references)."""

from __future__ import annotations

import re

SECRET_NAME = re.compile(r"pass(word|wd)?|pwd|secret|token|api[-_]?key|auth|session|sess_?id|^sid$|card|"
                         r"cc[-_]?num|^pan$|cvv|cvc|csc|iban|e-?mail|phone|otp", re.IGNORECASE)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
JWT = re.compile(r"^eyJ[\w-]+\.[\w-]+\.[\w-]*$")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def secret_kind(name: str, value: str) -> str | None:
    """What a sent value is that must not be copied ("a card number", "an e-mail address"...), or None."""
    compact = re.sub(r"[ -]", "", value)
    if compact.isdigit() and 13 <= len(compact) <= 19 and _luhn(compact):
        return "a card number"
    if EMAIL.match(value):
        return "an e-mail address"
    if JWT.match(value):
        return "a token"
    if value and SECRET_NAME.search(name):
        return "a credential or personal value"
    return None


__all__ = ["secret_kind"]
