"""Every URL the web layer hands out, built from the configured public address, never a request.

A request's ``Host`` (or ``X-Forwarded-Host``, or the address it reached) is whatever the
client wrote: a URL built from it would let one request put ``evil.example`` in the links
that cached pages and feed readers give everyone else. So the handlers build links with
``PublicUrls`` (``request.app[PUBLIC_URLS]``), made once from ``AGGREGATOR_BASE_URL``:

- with a base URL, links and ids are absolute under it (a path prefix is kept:
  ``https://example.org/news`` + ``/feed.atom``);
- without one, links are root-relative (``/feed.atom?tag=x``: HTML, Atom ``link`` and the
  API's ``next`` allow IRI references, resolved against the address the reader used); ids
  that must be absolute (Atom ``id``) are name-based ``urn:uuid:`` IRIs of the path, stable
  but only unique per site once the base URL is set; the optional URL members of a JSON
  Feed (``home_page_url``, ``feed_url``, ``next_url``) are left out.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

__all__ = ["PublicUrls"]

#: Name-based ids of sites without a base URL: uuid5 of the path in this namespace.
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://aggregator.invalid/")


class PublicUrls:
    """The site's public address, or None; the one place absolute URLs are made.

    Args:
        base_url: ``settings.base_url`` (validated, no trailing slash) or None.
    """

    def __init__(self, base_url: str | None):
        self.base_url = base_url.rstrip("/") if base_url else None
        parts = urlsplit(self.base_url or "")
        #: What a cached page is rendered with as its Host (cache.py): the public one.
        self.scheme = parts.scheme or "http"
        self.host = parts.netloc or "localhost"

    def link(self, path_and_query: str) -> str:
        """A link for documents that accept relative references: absolute when we can."""
        _check(path_and_query)
        return f"{self.base_url}{path_and_query}" if self.base_url else path_and_query

    def absolute(self, path_and_query: str) -> str | None:
        """An absolute URL, or None when no base URL is configured (leave the field out)."""
        _check(path_and_query)
        return f"{self.base_url}{path_and_query}" if self.base_url else None

    def iri(self, path_and_query: str) -> str:
        """A stable absolute identifier (Atom ``id``): the URL, or a ``urn:uuid:`` of the path."""
        _check(path_and_query)
        if self.base_url:
            return f"{self.base_url}{path_and_query}"
        return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, path_and_query)}"


def _check(path_and_query: str) -> None:
    # A programming error, not input: every caller passes a path it built itself.
    if not path_and_query.startswith("/") or path_and_query.startswith("//"):
        raise ValueError(f"expected a path from the site's root, got {path_and_query!r}")
