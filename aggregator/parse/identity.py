"""Stable identity of entries: GUID, else canonical link, else a content hash."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..tracking import TRACKING_PARAMS, TRACKING_PREFIXES, is_tracking_param, strip_tracking

__all__ = [
    "TRACKING_PARAMS", "TRACKING_PREFIXES", "canonical_url", "content_hash", "entry_identity",
    "is_tracking_param", "strip_tracking",
]


def canonical_url(url: str) -> str:
    """The URL without tracking parameters, fragment, default port or host case."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(query, doseq=True), ""))


def content_hash(*parts: str | None) -> str:
    """A short hash over the entry's visible content: notices edits, identifies GUID-less items."""
    h = hashlib.sha256()
    for part in parts:
        h.update((part or "").encode("utf-8", "replace"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


def entry_identity(guid: str | None, link: str | None, title: str, text: str) -> str:
    """GUID when the feed gives one, else the canonical link, else a hash of the content."""
    if guid and guid.strip():
        return guid.strip()[:1000]
    if link:
        return canonical_url(link)[:1000]
    return "sha256:" + content_hash(title, text)
