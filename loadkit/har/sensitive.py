"""Values a recording sent that must never be copied into a scenario: card numbers, e-mail addresses,
tokens, passwords, signed URLs' signatures and keys (they become ``${ENV}`` references). The rules are
:mod:`loadkit.sensitive`'s, shared with the log importer."""

from __future__ import annotations

from ..sensitive import EMAIL, JWT, card_number, secret_name


def secret_kind(name: str, value: str) -> str | None:
    """What a sent value is that must not be copied ("a card number", "an e-mail address"...), or None."""
    if card_number(value):
        return "a card number"
    if EMAIL.fullmatch(value):
        return "an e-mail address"
    if JWT.fullmatch(value):
        return "a token"
    if value and secret_name(name):
        return "a credential or personal value"
    return None


__all__ = ["secret_kind"]
