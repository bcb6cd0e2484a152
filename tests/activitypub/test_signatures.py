"""HTTP Signatures: sign -> verify round trips in both schemes, and every way to fail."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.activitypub import cavage, httpsig, signatures
from aggregator.activitypub.keys import KeyPair
from aggregator.activitypub.signatures import Message
from aggregator.errors import (
    BadSignatureError,
    DigestMismatchError,
    MissingSignatureError,
    SignatureWindowError,
    UnknownKeyError,
)

from .conftest import StaticResolver

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY_ID = "https://remote.example/users/ana#main-key"
OWNER = "https://remote.example/users/ana"
INBOX = "https://agg.example/ap/inbox"
BODY = b'{"type":"Follow","id":"https://remote.example/f/1"}'


def signed(scheme: signatures.Scheme, keypair: KeyPair, *, body: bytes | None = BODY, method: str = "POST",
           url: str = INBOX, now: datetime = NOW) -> Message:
    base = {"Content-Type": "application/activity+json"} if body is not None else {}
    added = signatures.sign(scheme, method, url, base, body, key_id=KEY_ID, private_key=keypair.private_key(), now=now)
    return Message.create(method, url, {**base, **added}, body or b"")


def with_headers(message: Message, **changes: str | None) -> Message:
    headers = dict(message.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return Message(message.method, message.url, headers, message.body)


@pytest.fixture
def known(resolver: StaticResolver, keypair: KeyPair) -> StaticResolver:
    resolver.add(KEY_ID, OWNER, keypair.public_pem)
    return resolver


SCHEMES: list[signatures.Scheme] = ["cavage", "rfc9421"]


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_round_trip_post(scheme: signatures.Scheme, keypair: KeyPair, known: StaticResolver) -> None:
    verified = await signatures.verify(signed(scheme, keypair), known, now=NOW)
    assert verified.scheme == scheme
    assert verified.key.owner == OWNER and verified.key.key_id == KEY_ID
    expected = ("(request-target)", "host", "date", "digest") if scheme == "cavage" else signatures.RFC9421_COMPONENTS
    assert verified.covered == expected


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_round_trip_get_without_body(scheme: signatures.Scheme, keypair: KeyPair, known: StaticResolver) -> None:
    message = signed(scheme, keypair, body=None, method="GET", url="https://agg.example:8443/ap/actor?x=1")
    assert "digest" not in message.headers and "content-digest" not in message.headers
    assert message.header("host") == "agg.example:8443"
    verified = await signatures.verify(message, known, now=NOW)
    assert verified.scheme == scheme


def test_headers_we_send(keypair: KeyPair) -> None:
    cavage = signed("cavage", keypair)
    assert cavage.header("digest") == signatures.digest_header(BODY)
    assert cavage.header("digest", ).startswith("SHA-256=")
    params = signatures.parse_cavage(cavage.header("signature") or "")
    assert params["keyId"] == KEY_ID and params["algorithm"] == "rsa-sha256"
    assert params["headers"] == "(request-target) host date digest"
    assert cavage.header("date") == "Tue, 01 Dec 2026 12:00:00 GMT"
    rfc = signed("rfc9421", keypair)
    assert rfc.header("content-digest", ).startswith("sha-256=:")
    assert rfc.header("signature-input") == (
        'sig1=("@method" "@target-uri" "@authority" "host" "date" "content-digest")'
        f';alg="rsa-v1_5-sha256";keyid="{KEY_ID}";created={int(NOW.timestamp())}'
    )
    assert (rfc.header("signature") or "").startswith("sig1=:")


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_tampered_body(scheme: signatures.Scheme, keypair: KeyPair, known: StaticResolver) -> None:
    message = signed(scheme, keypair)
    forged = Message(message.method, message.url, message.headers, BODY.replace(b"Follow", b"Delete"))
    with pytest.raises(DigestMismatchError):
        await signatures.verify(forged, known, now=NOW)
    assert known.calls == []  # refused before any key look-up


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_digest_recomputed_for_the_forged_body_breaks_the_signature(
    scheme: signatures.Scheme, keypair: KeyPair, known: StaticResolver
) -> None:
    message = signed(scheme, keypair)
    body = BODY.replace(b"Follow", b"Delete")
    header = {"cavage": {"digest": signatures.digest_header(body)},
              "rfc9421": {"content_digest": signatures.content_digest_header(body)}}[scheme]
    forged = with_headers(Message(message.method, message.url, message.headers, body), **header)
    with pytest.raises(BadSignatureError, match="does not match the key"):
        await signatures.verify(forged, known, now=NOW)


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_wrong_key(scheme: signatures.Scheme, keypair: KeyPair, other_keypair: KeyPair, resolver: StaticResolver) -> None:
    resolver.add(KEY_ID, OWNER, other_keypair.public_pem)
    with pytest.raises(BadSignatureError):
        await signatures.verify(signed(scheme, keypair), resolver, now=NOW)
    assert resolver.calls == [(KEY_ID, False)]  # not cached: no refetch


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_rotated_key_is_refetched_once(
    scheme: signatures.Scheme, keypair: KeyPair, other_keypair: KeyPair, known: StaticResolver
) -> None:
    known.stale[KEY_ID] = other_keypair.public_pem  # the cache still holds the old key
    verified = await signatures.verify(signed(scheme, keypair), known, now=NOW)
    assert verified.key.cached is False
    assert known.calls == [(KEY_ID, False), (KEY_ID, True)]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("offset", [timedelta(hours=-2), timedelta(hours=2)])
async def test_date_outside_the_window(scheme: signatures.Scheme, offset: timedelta, keypair: KeyPair, known: StaticResolver) -> None:
    message = signed(scheme, keypair, now=NOW + offset)
    with pytest.raises(SignatureWindowError):
        await signatures.verify(message, known, now=NOW)
    # A wider window (configurable) accepts it.
    assert (await signatures.verify(message, known, now=NOW, window=3 * 3600)).scheme == scheme


async def test_unknown_key(keypair: KeyPair, resolver: StaticResolver) -> None:
    with pytest.raises(UnknownKeyError):
        await signatures.verify(signed("cavage", keypair), resolver, now=NOW)


async def test_unsigned(resolver: StaticResolver) -> None:
    with pytest.raises(MissingSignatureError):
        await signatures.verify(Message.create("POST", INBOX, {"Date": "x"}, BODY), resolver, now=NOW)


@pytest.mark.parametrize("headers", ["(request-target) host date", "host date digest", "(request-target) date digest", "(request-target) host digest"])
async def test_cavage_missing_covered_headers(headers: str, keypair: KeyPair, known: StaticResolver) -> None:
    message = signed("cavage", keypair)
    # Re-sign honestly with fewer headers: the signature holds but covers too little.
    names = headers.split()
    data = cavage._cavage_string(message, names, {}, with_query=True)
    sig = base64.b64encode(httpsig.sign_rsa(keypair.private_key(), data)).decode()
    partial = with_headers(message, signature=f'keyId="{KEY_ID}",algorithm="rsa-sha256",headers="{headers}",signature="{sig}"')
    with pytest.raises(MissingSignatureError):
        await signatures.verify(partial, known, now=NOW)


async def test_rfc9421_without_content_digest_or_created(keypair: KeyPair, known: StaticResolver) -> None:
    message = signed("rfc9421", keypair)
    no_digest = (message.header("signature-input") or "").replace(' "content-digest"', "")
    with pytest.raises(MissingSignatureError):
        await signatures.verify(with_headers(message, signature_input=no_digest), known, now=NOW)
    no_created = (message.header("signature-input") or "").split(";created=")[0]
    with pytest.raises(MissingSignatureError):
        await signatures.verify(with_headers(message, signature_input=no_created), known, now=NOW)


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_other_target_is_refused(scheme: signatures.Scheme, keypair: KeyPair, known: StaticResolver) -> None:
    """A signature made for another inbox does not hold for ours."""
    message = signed(scheme, keypair, url="https://elsewhere.example/inbox")
    moved = Message(message.method, INBOX, message.headers, message.body)
    with pytest.raises(BadSignatureError):
        await signatures.verify(moved, known, now=NOW)


@pytest.mark.parametrize("value", [
    "garbage", 'keyId="k"', 'keyId="k",signature="not base64!!"', "x" * 10000, 'keyId="k",signature="AA==",headers="date',
])
async def test_malformed_cavage_headers(value: str, known: StaticResolver, keypair: KeyPair) -> None:
    message = with_headers(signed("cavage", keypair), signature=value)
    with pytest.raises((BadSignatureError, MissingSignatureError, UnknownKeyError)):
        await signatures.verify(message, known, now=NOW)


@pytest.mark.parametrize("signature_input,signature", [
    ("((((", "sig1=:AA==:"),
    ('sig1=("@method" "@target-uri" "content-digest");created=1', "sig1=:AA==:"),
    ('sig1=("@method" "@target-uri" "content-digest");keyid="k";created=1796126400;alg="hmac-sha256"', "sig1=:AA==:"),
    ('sig1=("@method" "@target-uri" "content-digest");keyid="k";created=1796126400', "sig2=:AA==:"),
    ('sig1=("@method";x=1 "@target-uri" "content-digest");keyid="k";created=1796126400', "sig1=:AA==:"),
    ('sig1=("@method" "@target-uri" "@status" "content-digest");keyid="' + KEY_ID + '";created=1796126400', "sig1=:AA==:"),
])
async def test_malformed_rfc9421_headers(signature_input: str, signature: str, known: StaticResolver, keypair: KeyPair) -> None:
    message = with_headers(signed("rfc9421", keypair), signature_input=signature_input, signature=signature)
    with pytest.raises((BadSignatureError, MissingSignatureError)):
        await signatures.verify(message, known, now=NOW)


async def test_hs2019_and_created_pseudo_header(keypair: KeyPair, known: StaticResolver) -> None:
    """hs2019 with (created) instead of Date, as newer cavage signers send."""
    created = int(NOW.timestamp())
    message = Message.create("POST", INBOX, {"Host": "agg.example", "Digest": signatures.digest_header(BODY)}, BODY)
    names = ["(request-target)", "(created)", "host", "digest"]
    data = cavage._cavage_string(message, names, {"created": str(created)}, with_query=True)
    sig = base64.b64encode(httpsig.sign_rsa(keypair.private_key(), data)).decode()
    message = with_headers(message, signature=f'keyId="{KEY_ID}",algorithm="hs2019",created={created},headers="{" ".join(names)}",signature="{sig}"')
    assert (await signatures.verify(message, known, now=NOW)).scheme == "cavage"
    with pytest.raises(SignatureWindowError):
        await signatures.verify(message, known, now=NOW + timedelta(hours=3))
