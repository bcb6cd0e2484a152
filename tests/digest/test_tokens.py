"""Tokens: tampering, expiry, purpose, binding; keyed hashes and Message-IDs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from aggregator.digest.tokens import Keyring, new_secret, unsubscribe_token_from_subject
from aggregator.errors import TokenError

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def keyring() -> Keyring:
    return Keyring(new_secret())


def reason(keyring: Keyring, purpose: str, token: str, *, bind: str = "salt", now: datetime = NOW) -> str:
    with pytest.raises(TokenError) as info:
        keyring.verify(purpose, token, bind=bind, now=now)  # type: ignore[arg-type]
    return info.value.reason


def test_round_trip_and_unverified_subject(keyring: Keyring) -> None:
    token = keyring.make("unsubscribe", 42, bind="salt")
    assert keyring.verify("unsubscribe", token, bind="salt", now=NOW) == "42"
    assert Keyring.subject_of(token) == "42"
    assert len(token) < 80 and all(c.isalnum() or c in "-_." for c in token)


def test_tampered_tokens_are_forged(keyring: Keyring) -> None:
    token = keyring.make("unsubscribe", 42, bind="salt")
    subject, expiry, mac = token.split(".")
    assert reason(keyring, "unsubscribe", f"43.{expiry}.{mac}") == "forged"  # another subscriber
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    assert reason(keyring, "unsubscribe", f"{subject}.{expiry}.{flipped}") == "forged"
    assert reason(keyring, "unsubscribe", f"{subject}.zz.{mac}") == "forged"  # expiry changed
    assert reason(keyring, "unsubscribe", token, bind="another-row") == "forged"  # row re-created
    assert reason(Keyring(new_secret()), "unsubscribe", token) == "forged"  # another secret


def test_purpose_is_part_of_the_signature(keyring: Keyring) -> None:
    token = keyring.make("preferences", 7, bind="salt")
    assert reason(keyring, "unsubscribe", token) == "forged"
    assert reason(keyring, "confirm", token) == "forged"
    assert reason(keyring, "nonsense", token) == "forged"


def test_expiry(keyring: Keyring) -> None:
    token = keyring.make("confirm", 7, bind="salt", expires=NOW + timedelta(days=3))
    assert keyring.verify("confirm", token, bind="salt", now=NOW + timedelta(days=2)) == "7"
    assert reason(keyring, "confirm", token, now=NOW + timedelta(days=3)) == "expired"


@pytest.mark.parametrize("token", ["", "abc", "1.0", "1.0.x", "1..AAAAAAAAAAAAAAAAAAAAAA", "1.0." + "A" * 200,
                                   "1.0.AAAAAAAAAAAAAAAAAAAAAA\n", "../1.0.AAAAAAAAAAAAAAAAAAAAAA", "é.0.AAAAAAAAAAAAAAAAAAAAAA"])
def test_malformed_tokens(keyring: Keyring, token: str) -> None:
    assert reason(keyring, "unsubscribe", token) == "malformed"
    assert Keyring.subject_of(token) is None


def test_address_keys_and_message_ids(keyring: Keyring) -> None:
    key = keyring.address_key("camille@example.org")
    assert len(key) == 64 and key == keyring.address_key("camille@example.org")
    assert key != Keyring(new_secret()).address_key("camille@example.org")
    mid = keyring.message_id("s1.salt", date(2026, 11, 20), "medias.example.org")
    assert mid == keyring.message_id("s1.salt", "2026-11-20", "medias.example.org")
    assert mid.startswith("<digest.2026-11-20.") and mid.endswith("@medias.example.org>")
    assert mid != keyring.message_id("s2.salt", date(2026, 11, 20), "medias.example.org")
    assert mid != keyring.message_id("s1.salt", date(2026, 11, 21), "medias.example.org")
    assert "s1" not in mid


def test_mailto_subject(keyring: Keyring) -> None:
    token = keyring.make("unsubscribe", 3, bind="salt")
    assert unsubscribe_token_from_subject(f"unsubscribe-{token}") == token
    assert unsubscribe_token_from_subject(f"  Unsubscribe-{token} ") == token
    assert unsubscribe_token_from_subject("Re: hello") is None
    assert unsubscribe_token_from_subject("unsubscribe-" + "x" * 500) is None


def test_secret_too_short() -> None:
    with pytest.raises(ValueError):
        Keyring(b"short")
