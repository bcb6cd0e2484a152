"""Strangers' addresses: a table of hostile inputs, normalisation, IDN."""

from __future__ import annotations

import pytest

from aggregator.digest.addresses import MAX_LENGTH, parse_address
from aggregator.errors import AddressError

HOSTILE = [
    ("", "empty"),
    ("   ", "empty"),
    ("a@b.org\r\nBcc: victim@example.org", "control"),
    ("a@b.org\nBcc: victim@example.org", "control"),
    ("a@b.org\r\n", "control"),
    ("a@b.org\x00", "control"),
    ("a\t@b.org", "control"),
    ("a@b.org\u2028", "control"),
    ("a\u200b@b.org", "control"),  # zero-width space (format character)
    ("a@b.org\x7f", "control"),
    ("x" * 64 + "@" + ("d" * 60 + ".") * 4 + "org", "too_long"),
    ("a" * 400 + "@b.org", "too_long"),
    ("plainaddress", "syntax"),
    ("@b.org", "syntax"),
    ("a@", "syntax"),
    ("a@@b.org", "syntax"),
    ("a@b", "syntax"),  # no dot in the domain
    ("a b@c.org", "syntax"),
    ('"quoted"@b.org', "syntax"),
    ("a@[127.0.0.1]", "syntax"),
    ("Name <a@b.org>", "syntax"),
    ("a@b.org, c@d.org", "syntax"),
    ("a@localhost", "syntax"),
    ("a@b.local", "syntax"),
    ("a@-b.org", "syntax"),
    ("a..b@c.org", "syntax"),
    ("jörg@example.org", "syntax"),  # SMTPUTF8 local part: refused
]


@pytest.mark.parametrize(("raw", "reason"), HOSTILE)
def test_hostile_addresses_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_address(raw)
    assert info.value.reason == reason
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("raw", [None, 42, b"a@b.org", ["a@b.org"]])
def test_non_text_is_refused(raw: object) -> None:
    with pytest.raises(AddressError):
        parse_address(raw)


def test_valid_addresses_and_comparison_form() -> None:
    a = parse_address(" Camille.Dupont+lettre@Example.ORG ")
    assert a.value == "Camille.Dupont+lettre@example.org"
    assert a.comparison == "camille.dupont+lettre@example.org"
    assert parse_address("camille.dupont+lettre@example.org").comparison == a.comparison


def test_internationalised_domain_is_sent_in_ascii() -> None:
    a = parse_address("redaction@médias-libres.fr")
    assert a.value == "redaction@xn--mdias-libres-beb.fr"
    assert a.display == "redaction@médias-libres.fr"
    assert a.comparison == "redaction@xn--mdias-libres-beb.fr"
    assert parse_address("redaction@xn--mdias-libres-beb.fr").comparison == a.comparison


def test_longest_valid_address() -> None:
    local = "a" * 64
    domain = ".".join(["b" * 63, "c" * 63, "d" * 50, "org"])
    address = f"{local}@{domain}"
    assert len(address) <= MAX_LENGTH
    assert parse_address(address).value == address
