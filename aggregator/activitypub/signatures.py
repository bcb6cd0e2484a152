"""HTTP Signatures as the fediverse speaks them: draft-cavage-12 and RFC 9421.

Two schemes are alive. Every Mastodon, Pleroma, Misskey and Fedify verifies draft-cavage
(``Signature: keyId=...,algorithm="rsa-sha256",headers="(request-target) host date
digest",signature=...`` plus ``Digest: SHA-256=...``); Mastodon 4.5+ and Fedify also verify
RFC 9421 (``Signature-Input``/``Signature`` structured fields plus ``Content-Digest``), and
Fedify *sends* RFC 9421 first, falling back to cavage after a 401. So we verify both and sign
both (the transport picks the order, see ``transport.py``).

Verification is deliberately strict, because the inbox is a public door:

* the covered components must include what binds the signature to this request: the method
  and target (``(request-target)``, or ``@method`` with ``@target-uri`` or ``@authority`` +
  ``@path``), the host, a date (``date`` or ``(created)``; RFC 9421's ``created`` parameter
  is always required), and for a request with a body its digest;
* the body's digest is recomputed and compared (constant time);
* the signature's date must lie within ``window`` seconds of now (default one hour, either
  way: clocks drift, queues delay);
* the key comes from an injected async :class:`KeyResolver`; when the signature does not
  match a key the resolver had cached, the key is fetched once more (``refresh=True``) and
  tried again: that is how a remote key rotation is noticed.

Nothing here does I/O itself; everything is a pure function of the message, the clock and
the resolver. The schemes live in ``cavage.py`` and ``rfc9421.py``, the body digests in
``digests.py`` and what both share in ``httpsig.py``; this module picks one and re-exports
the names callers use.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import rsa

from .cavage import CAVAGE_HEADERS, parse_cavage, sign_cavage, verify_cavage
from .digests import check_content_digest, check_digest, content_digest_header, digest_header
from .httpsig import (
    DEFAULT_WINDOW,
    KeyResolver,
    Message,
    PublicKey,
    RemoteKey,
    Scheme,
    Verified,
    http_date,
)
from .rfc9421 import RFC9421_COMPONENTS, sign_rfc9421, verify_rfc9421

__all__ = [
    "CAVAGE_HEADERS", "DEFAULT_WINDOW", "RFC9421_COMPONENTS", "KeyResolver", "Message", "PublicKey", "RemoteKey",
    "Scheme", "Verified", "check_content_digest", "check_digest", "content_digest_header", "digest_header",
    "http_date", "parse_cavage", "sign", "sign_cavage", "sign_rfc9421", "verify", "verify_cavage", "verify_rfc9421",
]


# ---- either --------------------------------------------------------------------------------


async def verify(
    message: Message, resolver: KeyResolver, *, now: datetime, window: float = DEFAULT_WINDOW
) -> Verified:
    """Verify whichever scheme the request carries (RFC 9421 when ``Signature-Input`` is there).

    Raises a :class:`~aggregator.errors.SignatureError` subclass saying what failed.
    """
    if message.header("signature-input") is not None:
        return await verify_rfc9421(message, resolver, now=now, window=window)
    return await verify_cavage(message, resolver, now=now, window=window)


def sign(
    scheme: Scheme, method: str, url: str, headers: Mapping[str, str], body: bytes | None, *,
    key_id: str, private_key: rsa.RSAPrivateKey, now: datetime,
) -> dict[str, str]:
    """Sign with ``scheme``; returns the headers to add to the request."""
    if scheme == "rfc9421":
        return sign_rfc9421(method, url, headers, body, key_id=key_id, private_key=private_key, now=now)
    return sign_cavage(method, url, headers, body, key_id=key_id, private_key=private_key, now=now)
