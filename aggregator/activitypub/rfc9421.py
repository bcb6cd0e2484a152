"""RFC 9421 HTTP Message Signatures, as Fedify and Mastodon 4.5+ speak them.

``Signature-Input: sig1=("@method" "@target-uri" ...);created=...;keyid="...";alg="..."`` and
``Signature: sig1=:...:`` with ``Content-Digest: sha-256=:...:``. Every label is tried; the
first signature that holds wins (see ``signatures.py`` for what must be covered).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime

import http_sfv
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from ..errors import (
    BadSignatureError,
    DigestMismatchError,
    MissingSignatureError,
    SignatureWindowError,
)
from .digests import check_content_digest, content_digest_header
from .httpsig import (
    DEFAULT_WINDOW,
    MAX_HEADER,
    KeyResolver,
    Message,
    PublicKey,
    Verified,
    authority,
    check_window,
    http_date,
    parse_http_date,
    sign_rsa,
    verify_with,
)

#: What we sign with RFC 9421 (Fedify's set, which Mastodon 4.5+ accepts).
RFC9421_COMPONENTS = ("@method", "@target-uri", "@authority", "host", "date", "content-digest")


def _derived(name: str, message: Message) -> str:
    url = URL(message.url)
    if name == "@method":
        return message.method.upper()
    if name == "@target-uri":
        return message.url
    if name == "@authority":
        return authority(url)
    if name == "@scheme":
        return url.scheme.lower()
    if name == "@path":
        return url.raw_path or "/"
    if name == "@query":
        return "?" + url.raw_query_string
    if name == "@request-target":
        return (url.raw_path or "/") + ("?" + url.raw_query_string if url.raw_query_string else "")
    raise BadSignatureError(f"unsupported derived component {name}")


def _signature_base(message: Message, components: list[str], params_text: str) -> bytes:
    lines = []
    for name in components:
        if name.startswith("@"):
            value = _derived(name, message)
        else:
            header = message.header(name)
            if header is None:
                raise BadSignatureError(f"covered header {name} is missing")
            value = header
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {params_text}')
    return "\n".join(lines).encode("utf-8")


def sign_rfc9421(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, *,
    key_id: str, private_key: rsa.RSAPrivateKey, now: datetime, label: str = "sig1",
) -> dict[str, str]:
    """The headers to add for an RFC 9421 ``rsa-v1_5-sha256`` signature.

    Host, Date, Content-Digest (with a body), Signature-Input and Signature.
    """
    target = URL(url)
    added = {"Host": authority(target), "Date": http_date(now)}
    if body is not None:
        added["Content-Digest"] = content_digest_header(body)
    components = [c for c in RFC9421_COMPONENTS if c != "content-digest" or body is not None]
    inner = http_sfv.InnerList([http_sfv.Item(c) for c in components])
    inner.params["alg"] = "rsa-v1_5-sha256"
    inner.params["keyid"] = key_id
    inner.params["created"] = int(now.timestamp())
    params_text = str(inner)
    message = Message.create(method, url, {**headers, **added}, body or b"")
    data = _signature_base(message, components, params_text)
    signature = base64.b64encode(sign_rsa(private_key, data)).decode()
    added["Signature-Input"] = f"{label}={params_text}"
    added["Signature"] = f"{label}=:{signature}:"
    return added


_RFC9421_ALGORITHMS = frozenset({"rsa-v1_5-sha256", "rsa-v1_5-sha512", "rsa-pss-sha512", "ed25519"})


def _parse_dictionary(value: str, name: str) -> http_sfv.Dictionary:
    if len(value) > MAX_HEADER:
        raise BadSignatureError(f"{name} header too long")
    parsed = http_sfv.Dictionary()
    try:
        parsed.parse(value.encode("latin-1"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise BadSignatureError(f"{name}: not a structured field dictionary") from exc
    return parsed


async def verify_rfc9421(
    message: Message, resolver: KeyResolver, *, now: datetime, window: float = DEFAULT_WINDOW
) -> Verified:
    """Verify the first signature of ``Signature-Input`` that holds (each one is tried)."""
    inputs = _parse_dictionary(message.header("signature-input") or "", "Signature-Input")
    signatures = _parse_dictionary(message.header("signature") or "", "Signature")
    if not len(inputs):
        raise MissingSignatureError("empty Signature-Input")
    failure: Exception = BadSignatureError("no usable signature in Signature-Input")
    for label, member in inputs.items():
        try:
            return await _verify_one_rfc9421(message, resolver, member, signatures.get(label), now, window)
        except (BadSignatureError, MissingSignatureError, DigestMismatchError, SignatureWindowError) as exc:
            failure = exc
    raise failure


async def _verify_one_rfc9421(
    message: Message, resolver: KeyResolver, member: object, signature_member: object,
    now: datetime, window: float,
) -> Verified:
    if not isinstance(member, http_sfv.InnerList):
        raise BadSignatureError("Signature-Input member is not an inner list")
    sig = getattr(signature_member, "value", None)
    if not isinstance(sig, bytes):
        raise BadSignatureError("no Signature for this Signature-Input label")
    components: list[str] = []
    for item in member:
        if not isinstance(item.value, str) or len(item.params):
            raise BadSignatureError("unsupported component (parameters or non-string)")
        components.append(item.value.lower())
    params = member.params
    key_id = params.get("keyid")
    created = params.get("created")
    if not isinstance(key_id, str) or not key_id:
        raise BadSignatureError("Signature-Input without keyid")
    if not isinstance(created, int) or isinstance(created, bool):
        raise MissingSignatureError("Signature-Input without created")
    has_body = message.method not in ("GET", "HEAD")
    missing = []
    if "@method" not in components:
        missing.append("@method")
    if "@target-uri" not in components and not (
        {"@authority", "host"} & set(components) and {"@path", "@request-target"} & set(components)
    ):
        missing.append("@target-uri")
    if has_body and "content-digest" not in components:
        missing.append("content-digest")
    if missing:
        raise MissingSignatureError(f"the signature does not cover {', '.join(missing)}")
    check_window(datetime.fromtimestamp(created, UTC), now, window, "created")
    expires = params.get("expires")
    if isinstance(expires, int) and datetime.fromtimestamp(expires, UTC) < now:
        raise SignatureWindowError("the signature has expired")
    if "date" in components and (date := message.header("date")) is not None:
        check_window(parse_http_date(date), now, window, "Date")
    if "content-digest" in components:
        digest = message.header("content-digest")
        if digest is None:
            raise BadSignatureError("covered header content-digest is missing")
        check_content_digest(digest, message.body)
    data = _signature_base(message, components, str(member))
    alg = params.get("alg")
    if alg is not None and (not isinstance(alg, str) or alg.lower() not in _RFC9421_ALGORITHMS):
        raise BadSignatureError(f"unsupported algorithm {alg!r}")
    key = await resolver.resolve(key_id)
    algorithm = alg.lower() if isinstance(alg, str) else _default_algorithm(key.public_key)
    if verify_with(key.public_key, algorithm, sig, data):
        return Verified(key=key, scheme="rfc9421", covered=tuple(components))
    if key.cached:
        fresh = await resolver.resolve(key_id, refresh=True)
        algorithm = alg.lower() if isinstance(alg, str) else _default_algorithm(fresh.public_key)
        if verify_with(fresh.public_key, algorithm, sig, data):
            return Verified(key=fresh, scheme="rfc9421", covered=tuple(components))
    raise BadSignatureError(f"signature does not match the key {key_id}")


def _default_algorithm(key: PublicKey) -> str:
    return "rsa-v1_5-sha256" if isinstance(key, rsa.RSAPublicKey) else "ed25519"
