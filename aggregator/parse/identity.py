"""Stable identity of entries: GUID, else canonical link, else a content hash."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

#: Query parameters that only track the reader; they make one article look like many.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid",
    "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid",
    "xtor", "at_medium", "at_campaign", "ref_src", "s_cid", "spm", "ocid", "ncid",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "matomo_")


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


def is_tracking_param(name: str) -> bool:
    """True for a query parameter that only tracks the reader (``utm_source``, ``fbclid``…)."""
    key = name.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def strip_tracking(url: str) -> str:
    """The same link without its tracking parameters, everything else left byte for byte.

    Unlike :func:`canonical_url` (an identity key), this is a link readers follow: the
    query keeps its order and encoding (SPIP's ``spip.php?article123`` stays as is), the
    fragment stays unless it is itself a tracker (``#xtor=RSS-3``, ``#utm_source=…``).
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    query = parts.query
    if query:
        kept = [p for p in query.split("&") if p and not is_tracking_param(unquote_plus(p.split("=", 1)[0]))]
        query = "&".join(kept)
    fragment = parts.fragment
    if fragment and "=" in fragment and all(
        is_tracking_param(unquote_plus(p.split("=", 1)[0])) for p in fragment.split("&") if p
    ):
        fragment = ""
    if query == parts.query and fragment == parts.fragment:
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, fragment))


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
