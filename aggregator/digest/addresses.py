"""E-mail addresses typed by strangers: validated strictly, normalised for comparison.

A subscription form is hostile input. Before the validator sees anything, the raw text is
bounded and any control character is refused: a line break in an address is how header
injection (``a@b.c\\r\\nBcc: x@y.z``) gets into mail headers. Validation is
``email-validator`` with DNS checks off (no network from a form post; a typo'd domain
simply never confirms). Internationalised domains are accepted and kept in their ASCII
(IDNA) form for sending; non-ASCII local parts are refused: they need SMTPUTF8 end to
end, which most relays still lack.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import email_validator

from ..errors import AddressError

#: RFC 5321's limit on a forward path is 256 including the brackets, so 254 for the address.
MAX_LENGTH = 254
#: Raw input longer than this is refused before any parsing (bounded work).
MAX_INPUT = 320
_FORBIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


@dataclass(frozen=True)
class Address:
    """A validated address.

    ``value`` is what mail is sent to (ASCII: IDNA domain); ``display`` what the reader
    typed, tidied (Unicode domain); ``comparison`` the form that identifies the person:
    the same address typed in another case compares equal.
    """

    value: str
    display: str
    comparison: str


def parse_address(raw: object) -> Address:
    """Validate one address from a form.

    Raises:
        AddressError: with ``reason`` ``empty``, ``too_long``, ``control`` or ``syntax``.
    """
    if not isinstance(raw, str):
        raise AddressError("the address must be text", reason="syntax")
    if len(raw) > MAX_INPUT:
        raise AddressError(f"the address is longer than {MAX_LENGTH} characters", reason="too_long")
    # Only spaces are trimmed: a trailing "\r\n" is refused below, never silently dropped.
    text = raw.strip(" ")
    if not text:
        raise AddressError("the address is empty", reason="empty")
    if len(text) > MAX_LENGTH:
        raise AddressError(f"the address is longer than {MAX_LENGTH} characters", reason="too_long")
    for ch in text:
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES or ch in "\t\r\n\x0b\x0c":
            raise AddressError("the address contains a line break or a control character", reason="control")
    try:
        checked = email_validator.validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
        )
    except email_validator.EmailNotValidError as exc:
        raise AddressError(f"not a valid e-mail address: {exc}", reason="syntax") from exc
    value = checked.ascii_email or checked.normalized
    if len(value) > MAX_LENGTH:
        raise AddressError(f"the address is longer than {MAX_LENGTH} characters", reason="too_long")
    local, _, _ = value.rpartition("@")
    return Address(
        value=value,
        display=checked.normalized,
        comparison=f"{local.casefold()}@{checked.ascii_domain.lower()}",
    )


def comparison_form(raw: str) -> str:
    """The comparison form of an address, for ``subscribers remove ADDRESS``."""
    return parse_address(raw).comparison
