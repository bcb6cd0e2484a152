"""draft-cavage-http-signatures-12: what every fediverse server verifies.

``Signature: keyId="...",algorithm="rsa-sha256",headers="(request-target) host date digest",
signature="..."`` with ``Digest: SHA-256=...``. Verification requires the request target, the
host, a date (``date`` or ``(created)``) and, with a body, the digest (see ``signatures.py``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from ..errors import BadSignatureError, MissingSignatureError, SignatureWindowError
from .digests import check_digest, digest_header
from .httpsig import (
    DEFAULT_WINDOW,
    MAX_HEADER,
    KeyResolver,
    Message,
    Verified,
    authority,
    check_window,
    epoch,
    http_date,
    parse_http_date,
    sign_rsa,
    verify_resolving,
)

#: What we sign with draft-cavage (Mastodon's set).
CAVAGE_HEADERS = ("(request-target)", "host", "date", "digest")

_CAVAGE_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|(-?\d+(?:\.\d+)?))\s*(?:,|$)')


def parse_cavage(value: str) -> dict[str, str]:
    """``keyId="...",algorithm="...",...`` -> dict; raises on anything else."""
    if len(value) > MAX_HEADER:
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
    added = {"Host": authority(target), "Date": http_date(now)}
    if body is not None:
        added["Digest"] = digest_header(body)
    names = [n for n in CAVAGE_HEADERS if n != "digest" or body is not None]
    message = Message.create(method, url, {**headers, **added}, body or b"")
    data = _cavage_string(message, names, {}, with_query=True)
    signature = base64.b64encode(sign_rsa(private_key, data)).decode()
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
        check_window(parse_http_date(date), now, window, "Date")
    if "created" in params:
        check_window(epoch(params["created"]), now, window, "created")
    if "expires" in params and epoch(params["expires"]) < now:
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
        key = await verify_resolving(resolver, params["keyId"], algorithm, signature, data)
    except BadSignatureError:
        if not query:
            raise
        # Some servers sign the path without the query; give that reading one chance.
        key = await verify_resolving(
            resolver, params["keyId"], algorithm, signature,
            _cavage_string(message, names, params, with_query=False),
        )
    return Verified(key=key, scheme="cavage", covered=tuple(names))
