"""Deterministic identifiers that make a retried post collide instead of duplicating.

Bluesky: the record key of each post (and repost) is a TID derived from the outbox row, so
a second ``createRecord`` for the same item hits the same key and is refused.
Mastodon: the ``Idempotency-Key`` header, remembered by the server for one hour.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

#: atproto TIDs: base32 "sortable" alphabet, 13 characters.
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
#: The first character carries the top bit, which must be 0: only the first 16 letters.
TID_PATTERN = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def encode_tid(value: int) -> str:
    """Encode a 64-bit integer as a TID (big-endian base32-sortable, zero-padded to 13)."""
    if not 0 <= value < 1 << 63:
        raise ValueError("a TID is a 63-bit unsigned integer (top bit 0)")
    chars = []
    for _ in range(13):
        chars.append(TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def decode_tid(tid: str) -> int:
    if not TID_PATTERN.match(tid):
        raise ValueError(f"not a TID: {tid!r}")
    value = 0
    for ch in tid:
        value = (value << 5) | TID_ALPHABET.index(ch)
    return value


def item_tid(entry_id: int, target: str, created: datetime) -> str:
    """The record key of the post relaying ``entry_id``: a valid TID, the same on every try.

    TID layout (atproto spec): top bit 0, 53 bits of microseconds since the epoch, 10 bits
    of clock identifier. The microseconds are the second the item entered the outbox plus
    the entry id below one million, so two items of the same second never share a key;
    the clock identifier is a hash of the item, so the key also changes with the database
    (a rebuilt database restarting ids at 1 never reuses an old key: its seconds differ).
    """
    micros = int(created.timestamp()) * 1_000_000 + entry_id % 1_000_000
    clock_id = int.from_bytes(hashlib.sha256(f"{entry_id}:{target}".encode()).digest()[:2], "big") & 0x3FF
    return encode_tid(((micros & ((1 << 53) - 1)) << 10) | clock_id)


def idempotency_key(entry_id: int, target: str, created: datetime) -> str:
    """Mastodon's ``Idempotency-Key`` for the item: stable across retries and restarts."""
    digest = hashlib.sha256(f"aggregator-relay:{entry_id}:{target}:{created.timestamp():.0f}".encode()).hexdigest()
    return f"aggregator-{entry_id}-{digest[:24]}"
