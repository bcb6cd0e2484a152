"""Body digests: ``Digest`` (RFC 3230, with draft-cavage) and ``Content-Digest`` (RFC 9530, with RFC 9421)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import http_sfv

from ..errors import BadSignatureError, DigestMismatchError

# ---- digests -------------------------------------------------------------------------------


def digest_header(body: bytes) -> str:
    """``Digest`` value (RFC 3230) for draft-cavage."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def content_digest_header(body: bytes) -> str:
    """``Content-Digest`` value (RFC 9530) for RFC 9421."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


_HASHES = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def _check_digests(pairs: list[tuple[str, str]], body: bytes, header: str) -> None:
    """Every supported algorithm must match, and at least one must be supported."""
    checked = 0
    for algo, value in pairs:
        hasher = _HASHES.get(algo.strip().lower())
        if hasher is None:
            continue
        try:
            claimed = base64.b64decode(value.strip(), validate=True)
        except ValueError as exc:
            raise BadSignatureError(f"{header}: invalid base64") from exc
        if not hmac.compare_digest(claimed, hasher(body).digest()):
            raise DigestMismatchError(f"{header} does not match the body")
        checked += 1
    if not checked:
        raise BadSignatureError(f"{header}: no supported digest algorithm (sha-256, sha-512)")


def check_digest(value: str, body: bytes) -> None:
    """Check a ``Digest: SHA-256=...`` header against the body."""
    pairs = [tuple(part.split("=", 1)) for part in value.split(",") if "=" in part]
    _check_digests([(a, b) for a, b in pairs], body, "Digest")


def check_content_digest(value: str, body: bytes) -> None:
    """Check a ``Content-Digest: sha-256=:...:`` header against the body."""
    parsed = http_sfv.Dictionary()
    try:
        parsed.parse(value.encode("latin-1"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise BadSignatureError("Content-Digest: not a structured field dictionary") from exc
    pairs: list[tuple[str, str]] = []
    for algo, member in parsed.items():
        raw = getattr(member, "value", None)
        if isinstance(raw, bytes):
            pairs.append((algo, base64.b64encode(raw).decode()))
    _check_digests(pairs, body, "Content-Digest")
