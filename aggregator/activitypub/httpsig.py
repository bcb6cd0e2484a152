"""What both HTTP Signature schemes share: the message, keys, crypto and the date window.

``cavage.py`` and ``rfc9421.py`` build on this; ``signatures.py`` is the entry point
(``sign``, ``verify``) and explains the policy. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from yarl import URL

from ..errors import BadSignatureError, SignatureWindowError

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
Scheme = Literal["cavage", "rfc9421"]

DEFAULT_WINDOW = 3600.0  # seconds either way, as Mastodon and Fedify
MAX_HEADER = 8192  # a signature header longer than this is hostile


@dataclass(frozen=True)
class Message:
    """An HTTP request as signed and verified.

    ``url`` is the absolute target URI *as the sender addressed it*: behind a reverse proxy
    the inbox rebuilds it from the public base URL, not from what the proxy forwarded.
    ``headers`` are kept with lower-case names (repeated headers joined by ``", "``).
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""

    @classmethod
    def create(
        cls, method: str, url: str, headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes = b""
    ) -> Message:
        items = headers.items() if isinstance(headers, Mapping) else headers
        merged: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            merged[key] = f"{merged[key]}, {value.strip()}" if key in merged else value.strip()
        return cls(method.upper(), url, merged, body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class RemoteKey:
    """A public key as the resolver found it, with the actor that owns it."""

    key_id: str
    owner: str
    public_key: PublicKey
    cached: bool = False  # True when it came from a cache (so a mismatch earns a refetch)


class KeyResolver(Protocol):
    """Key id -> key. Raises :class:`~aggregator.errors.UnknownKeyError` when it cannot."""

    async def resolve(self, key_id: str, *, refresh: bool = False) -> RemoteKey: ...


@dataclass(frozen=True)
class Verified:
    """A request whose signature held."""

    key: RemoteKey
    scheme: Scheme
    covered: tuple[str, ...] = field(default_factory=tuple)


# ---- dates ---------------------------------------------------------------------------------


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def check_window(when: datetime, now: datetime, window: float, what: str) -> None:
    drift = (when - now).total_seconds()
    if abs(drift) > window:
        direction = "ahead" if drift > 0 else "old"
        raise SignatureWindowError(f"{what} is {abs(drift):.0f} s {direction} (window {window:.0f} s)")


def parse_http_date(value: str) -> datetime:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError) as exc:
        raise BadSignatureError(f"invalid Date header: {value[:60]!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# ---- crypto --------------------------------------------------------------------------------


def sign_rsa(private_key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def verify_with(key: PublicKey, algorithm: str, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` over ``data`` holds; ``algorithm`` is already normalised."""
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if algorithm in ("rsa-sha256", "rsa-v1_5-sha256", "hs2019"):
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            elif algorithm in ("rsa-sha512", "rsa-v1_5-sha512"):
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA512())
            elif algorithm == "rsa-pss-sha512":
                key.verify(signature, data, padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512())
            else:
                raise BadSignatureError(f"algorithm {algorithm} does not fit an RSA key")
        else:
            if algorithm not in ("ed25519", "hs2019"):
                raise BadSignatureError(f"algorithm {algorithm} does not fit an Ed25519 key")
            key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


async def verify_resolving(
    resolver: KeyResolver, key_id: str, algorithm: str, signature: bytes, data: bytes
) -> RemoteKey:
    """Verify with the resolved key; once more with a refetched key if a cached one failed."""
    key = await resolver.resolve(key_id)
    if verify_with(key.public_key, algorithm, signature, data):
        return key
    if key.cached:
        fresh = await resolver.resolve(key_id, refresh=True)
        if verify_with(fresh.public_key, algorithm, signature, data):
            return fresh
    raise BadSignatureError(f"signature does not match the key {key_id}")



def authority(url: URL) -> str:
    host = (url.raw_host or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if url.explicit_port is not None and url.explicit_port != {"http": 80, "https": 443}.get(url.scheme):
        return f"{host}:{url.explicit_port}"
    return host



def epoch(value: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise BadSignatureError(f"invalid timestamp {value[:30]!r}") from exc
