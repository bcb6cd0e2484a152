"""Names on the AT Protocol side (pure): our did:web, its document, the records' keys and URIs.

A feed that Bluesky shows as "invisible" or in error is, almost always, a DID document that
does not resolve or does not name exactly the DID of the generator record. So the DID is
derived in one place from the public base URL, and the document served at
``/.well-known/did.json`` is built from the same value.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import ConfigError
from ..relay.ids import encode_tid

GENERATOR = "app.bsky.feed.generator"
LIST = "app.bsky.graph.list"
LISTITEM = "app.bsky.graph.listitem"
STARTERPACK = "app.bsky.graph.starterpack"
#: The fragment of the DID document's service entry that the AppView looks for.
SERVICE_ID = "#bsky_fg"
SERVICE_TYPE = "BskyFeedGenerator"


def did_web(base_url: str) -> str:
    """``did:web`` of the public base URL: ``did:web:medias.example.org``.

    A port is percent-encoded (``did:web:localhost%3A8080``). did:web documents live at
    ``/.well-known/did.json`` of the host only: a base URL with a path cannot carry one.
    An IP literal is refused: the reference resolver tries https on it and fails (on
    loopback, spell the host ``localhost``, which it reads over plain http).

    Raises:
        ConfigError: naming ``AGGREGATOR_BASE_URL``.
    """
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"the Bluesky feed generator needs {why}, got {base_url!r}",
                           file="environment", field="AGGREGATOR_BASE_URL")

    if parts.path not in ("", "/"):
        raise refuse("a base URL without a path (did:web lives at the host's /.well-known/did.json)")
    try:
        ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise refuse("a host name, not an IP address (use localhost on loopback)")
    if not host:
        raise refuse("a host name")
    authority = host if parts.port is None else f"{host}:{parts.port}"
    return "did:web:" + quote(authority, safe="")


def did_document(did: str, base_url: str) -> dict[str, Any]:
    """The document served at ``/.well-known/did.json``: its ``id`` is exactly ``did``."""
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "service": [{"id": SERVICE_ID, "type": SERVICE_TYPE, "serviceEndpoint": base_url}],
    }


@dataclass(frozen=True)
class AtUri:
    authority: str
    collection: str
    rkey: str

    def __str__(self) -> str:
        return f"at://{self.authority}/{self.collection}/{self.rkey}"


def parse_at_uri(value: str) -> AtUri | None:
    """``at://AUTHORITY/COLLECTION/RKEY``, or None for anything else."""
    if not value.startswith("at://") or len(value) > 8192:
        return None
    parts = value[5:].split("/")
    if len(parts) != 3 or not all(parts) or "?" in value or "#" in value:
        return None
    return AtUri(parts[0], parts[1], parts[2])


def record_uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


def stable_tid(*parts: str) -> str:
    """A valid TID record key derived from ``parts``: the same on every run.

    Lists, list items and starter packs must have TID keys. Deriving them (here from the
    purpose and, for an item, the account) makes a repeated create collide with the first
    one and lets a later run find the record without remembering anything. The timestamp
    part lies in 2020-2023, well in the past, as a TID's should.
    """
    digest = hashlib.sha256("\n".join(("aggregator-bluesky", *parts)).encode()).digest()
    micros = 1_600_000_000_000_000 + int.from_bytes(digest[:8], "big") % 100_000_000_000_000
    clock_id = int.from_bytes(digest[8:10], "big") & 0x3FF
    return encode_tid((micros << 10) | clock_id)


def blob_cid(data: bytes) -> str:
    """The CID a PDS gives an uploaded blob (CIDv1, raw codec, sha2-256, base32):
    comparing it with a record's avatar tells whether the image changed, without uploading."""
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")
