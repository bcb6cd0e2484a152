"""Tracking parameters: which query parameters only follow the reader, and links without them.

Used where links are stored (``parse/build.py``: the entry's link is kept clean), where
identity is computed (``parse/identity.py``: ``canonical_url``), by the migration that
cleaned links stored before (0005), and by the relay when it looks for its own posts.
Imports nothing of ours.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit, urlunsplit

#: Query parameters that only track the reader; they make one article look like many.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid",
    "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid",
    "xtor", "at_medium", "at_campaign", "ref_src", "s_cid", "spm", "ocid", "ncid",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "matomo_")


def is_tracking_param(name: str) -> bool:
    """True for a query parameter that only tracks the reader (``utm_source``, ``fbclid``…)."""
    key = name.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def strip_tracking(url: str) -> str:
    """The same link without its tracking parameters, everything else left byte for byte.

    Unlike ``parse.identity.canonical_url`` (an identity key), this is a link readers follow: the
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
