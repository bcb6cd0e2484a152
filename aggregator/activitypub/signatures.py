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
the resolver.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Literal, Protocol

import http_sfv
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from yarl import URL

from ..errors import (
    BadSignatureError,
    DigestMismatchError,
    MissingSignatureError,
    SignatureWindowError,
)

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
Scheme = Literal["cavage", "rfc9421"]

DEFAULT_WINDOW = 3600.0  # seconds either way, as Mastodon and Fedify
#: What we sign with draft-cavage (Mastodon's set).
CAVAGE_HEADERS = ("(request-target)", "host", "date", "digest")
#: What we sign with RFC 9421 (Fedify's set, which Mastodon 4.5+ accepts).
RFC9421_COMPONENTS = ("@method", "@target-uri", "@authority", "host", "date", "content-digest")
_MAX_HEADER = 8192  # a signature header longer than this is hostile


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


# ---- dates ---------------------------------------------------------------------------------


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _check_window(when: datetime, now: datetime, window: float, what: str) -> None:
    drift = (when - now).total_seconds()
    if abs(drift) > window:
        direction = "ahead" if drift > 0 else "old"
        raise SignatureWindowError(f"{what} is {abs(drift):.0f} s {direction} (window {window:.0f} s)")


def _parse_http_date(value: str) -> datetime:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError) as exc:
        raise BadSignatureError(f"invalid Date header: {value[:60]!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# ---- crypto --------------------------------------------------------------------------------


def _sign_rsa(private_key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _verify_with(key: PublicKey, algorithm: str, signature: bytes, data: bytes) -> bool:
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


async def _verify_resolving(
    resolver: KeyResolver, key_id: str, algorithm: str, signature: bytes, data: bytes
) -> RemoteKey:
    """Verify with the resolved key; once more with a refetched key if a cached one failed."""
    key = await resolver.resolve(key_id)
    if _verify_with(key.public_key, algorithm, signature, data):
        return key
    if key.cached:
        fresh = await resolver.resolve(key_id, refresh=True)
        if _verify_with(fresh.public_key, algorithm, signature, data):
            return fresh
    raise BadSignatureError(f"signature does not match the key {key_id}")


# ---- draft-cavage --------------------------------------------------------------------------

_CAVAGE_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|(-?\d+(?:\.\d+)?))\s*(?:,|$)')


def parse_cavage(value: str) -> dict[str, str]:
    """``keyId="...",algorithm="...",...`` -> dict; raises on anything else."""
    if len(value) > _MAX_HEADER:
        raise BadSignatureError("Signature header too long")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        match = _CAVAGE_PARAM.match(value, pos)
        if match is None or match.end() == pos:
            raise BadSignatureError("malformed Signature header")
        params[match.group(1)] = match.group(2) if match.group(2) is not None else match.group(3)
        pos = match.end()
    for required in ("keyId", "signature"):
        if not params.get(required):
            raise BadSignatureError(f"Signature header without {required}")
    return params


def _request_target(message: Message, *, with_query: bool) -> str:
    url = URL(message.url)
    path = url.raw_path or "/"
    if with_query and url.raw_query_string:
        path += "?" + url.raw_query_string
    return f"{message.method.lower()} {path}"


def _cavage_string(message: Message, names: list[str], params: Mapping[str, str], *, with_query: bool) -> bytes:
    lines = []
    for name in names:
        if name == "(request-target)":
            value = _request_target(message, with_query=with_query)
        elif name in ("(created)", "(expires)"):
            value = params.get(name[1:-1], "")
            if not value:
                raise BadSignatureError(f"{name} covered but the parameter is missing")
        else:
            header = message.header(name)
            if header is None:
                raise BadSignatureError(f"covered header {name} is missing")
            value = header
        lines.append(f"{name}: {value}")
    return "\n".join(lines).encode("utf-8")


def sign_cavage(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, *,
    key_id: str, private_key: rsa.RSAPrivateKey, now: datetime,
) -> dict[str, str]:
    """The headers to add for a draft-cavage ``rsa-sha256`` signature (Host, Date, Digest, Signature).

    ``body`` None means a request without one (GET): no ``Digest``.
    """
    target = URL(url)
    added = {"Host": _authority(target), "Date": http_date(now)}
    if body is not None:
        added["Digest"] = digest_header(body)
    names = [n for n in CAVAGE_HEADERS if n != "digest" or body is not None]
    message = Message.create(method, url, {**headers, **added}, body or b"")
    data = _cavage_string(message, names, {}, with_query=True)
    signature = base64.b64encode(_sign_rsa(private_key, data)).decode()
    added["Signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",signature="{signature}"'
    )
    return added


async def verify_cavage(
    message: Message, resolver: KeyResolver, *, now: datetime, window: float = DEFAULT_WINDOW
) -> Verified:
    header = message.header("signature")
    if header is None:
        authorization = message.header("authorization") or ""
        if not authorization.lower().startswith("signature "):
            raise MissingSignatureError("no Signature header")
        header = authorization[len("signature ") :]
    params = parse_cavage(header)
    names = (params.get("headers") or "date").lower().split()
    has_body = message.method not in ("GET", "HEAD")
    missing = [n for n in ("(request-target)", "host") if n not in names]
    if "date" not in names and "(created)" not in names:
        missing.append("date")
    if has_body and "digest" not in names:
        missing.append("digest")
    if missing:
        raise MissingSignatureError(f"the signature does not cover {', '.join(missing)}")
    if "date" in names:
        date = message.header("date")
        if date is None:
            raise BadSignatureError("covered header date is missing")
        _check_window(_parse_http_date(date), now, window, "Date")
    if "created" in params:
        _check_window(_epoch(params["created"]), now, window, "created")
    if "expires" in params and _epoch(params["expires"]) < now:
        raise SignatureWindowError("the signature has expired")
    if has_body or "digest" in names:
        digest = message.header("digest")
        if digest is None:
            raise BadSignatureError("covered header digest is missing")
        check_digest(digest, message.body)
    try:
        signature = base64.b64decode(params["signature"], validate=True)
    except ValueError as exc:
        raise BadSignatureError("signature is not base64") from exc
    algorithm = (params.get("algorithm") or "hs2019").lower()
    query = bool(URL(message.url).raw_query_string)
    data = _cavage_string(message, names, params, with_query=True)
    try:
        key = await _verify_resolving(resolver, params["keyId"], algorithm, signature, data)
    except BadSignatureError:
        if not query:
            raise
        # Some servers sign the path without the query; give that reading one chance.
        key = await _verify_resolving(
            resolver, params["keyId"], algorithm, signature,
            _cavage_string(message, names, params, with_query=False),
        )
    return Verified(key=key, scheme="cavage", covered=tuple(names))


def _epoch(value: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise BadSignatureError(f"invalid timestamp {value[:30]!r}") from exc


# ---- RFC 9421 ------------------------------------------------------------------------------


def _authority(url: URL) -> str:
    host = (url.raw_host or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if url.explicit_port is not None and url.explicit_port != {"http": 80, "https": 443}.get(url.scheme):
        return f"{host}:{url.explicit_port}"
    return host


def _derived(name: str, message: Message) -> str:
    url = URL(message.url)
    if name == "@method":
        return message.method.upper()
    if name == "@target-uri":
        return message.url
    if name == "@authority":
        return _authority(url)
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
    added = {"Host": _authority(target), "Date": http_date(now)}
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
    signature = base64.b64encode(_sign_rsa(private_key, data)).decode()
    added["Signature-Input"] = f"{label}={params_text}"
    added["Signature"] = f"{label}=:{signature}:"
    return added


_RFC9421_ALGORITHMS = frozenset({"rsa-v1_5-sha256", "rsa-v1_5-sha512", "rsa-pss-sha512", "ed25519"})


def _parse_dictionary(value: str, name: str) -> http_sfv.Dictionary:
    if len(value) > _MAX_HEADER:
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
    _check_window(datetime.fromtimestamp(created, UTC), now, window, "created")
    expires = params.get("expires")
    if isinstance(expires, int) and datetime.fromtimestamp(expires, UTC) < now:
        raise SignatureWindowError("the signature has expired")
    if "date" in components and (date := message.header("date")) is not None:
        _check_window(_parse_http_date(date), now, window, "Date")
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
    if _verify_with(key.public_key, algorithm, sig, data):
        return Verified(key=key, scheme="rfc9421", covered=tuple(components))
    if key.cached:
        fresh = await resolver.resolve(key_id, refresh=True)
        algorithm = alg.lower() if isinstance(alg, str) else _default_algorithm(fresh.public_key)
        if _verify_with(fresh.public_key, algorithm, sig, data):
            return Verified(key=fresh, scheme="rfc9421", covered=tuple(components))
    raise BadSignatureError(f"signature does not match the key {key_id}")


def _default_algorithm(key: PublicKey) -> str:
    return "rsa-v1_5-sha256" if isinstance(key, rsa.RSAPublicKey) else "ed25519"


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
