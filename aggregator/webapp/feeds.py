"""Atom 1.0 (RFC 4287) and JSON Feed 1.1 documents of any view, built from stored entries.

Pure functions: the views gather entries and paths, these only serialize. Summaries are the
stored sanitized HTML; titles and names are text and escaped by the serializers. Links and
ids come from ``PublicUrls`` (urls.py): absolute under the configured base URL, else
relative links, ``urn:uuid:`` ids and no optional JSON Feed URLs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree as ET

from ..model import SourceConfig, StoredEntry
from .http import json_bytes
from .render import iso, path_segment, safe_url
from .urls import PublicUrls

ATOM_NS = "http://www.w3.org/2005/Atom"
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"
#: Characters XML 1.0 forbids even escaped; a hostile title must not make the feed invalid.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: str | None) -> str:
    return _XML_INVALID.sub("", text or "")


@dataclass(frozen=True)
class FeedMeta:
    """A feed's facts; the ``*_path`` members are paths from the site's root, with a query."""

    title: str
    self_path: str  # this feed, with its filters and cursor
    html_path: str  # the page of the same view
    id_path: str  # this feed, with its filters (not the cursor: every page is one feed)
    updated: datetime
    next_path: str | None = None
    description: str | None = None
    language: str | None = None


def entry_id(entry: StoredEntry, urls: PublicUrls) -> str:
    """A stable IRI per entry: the original link when it is a web URL."""
    return safe_url(entry.url) or urls.iri(f"/#item-{entry.id}")


def source_path(slug: str) -> str:
    return f"/sources/{path_segment(slug)}"


def atom(meta: FeedMeta, entries: Sequence[StoredEntry], sources: Mapping[str, SourceConfig], urls: PublicUrls) -> bytes:
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {k: _x(v) for k, v in attrs.items()})
        if text is not None:
            el.text = _x(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    if meta.language:
        feed.set("{http://www.w3.org/XML/1998/namespace}lang", meta.language)
    sub(feed, "id", urls.iri(meta.id_path))
    sub(feed, "title", meta.title)
    if meta.description:
        sub(feed, "subtitle", meta.description)
    sub(feed, "updated", iso(meta.updated))
    sub(feed, "link", rel="self", type="application/atom+xml", href=urls.link(meta.self_path))
    sub(feed, "link", rel="alternate", type="text/html", href=urls.link(meta.html_path))
    if meta.next_path:
        sub(feed, "link", rel="next", type="application/atom+xml", href=urls.link(meta.next_path))  # RFC 5005
    sub(feed, "generator", "aggregator")
    author = sub(feed, "author")
    sub(author, "name", meta.title)
    for e in entries:
        source = sources.get(e.source)
        item = sub(feed, "entry")
        sub(item, "id", entry_id(e, urls))
        sub(item, "title", e.title or "…", type="text")
        url = safe_url(e.url)
        if url:
            sub(item, "link", rel="alternate", type="text/html", href=url)
        sub(item, "published", iso(e.published))
        sub(item, "updated", iso(max(e.updated or e.published, e.published)))
        item_author = sub(item, "author")
        sub(item_author, "name", e.author or (source.name if source else e.source))
        if source and safe_url(source.website or source.url):
            sub(item_author, "uri", safe_url(source.website or source.url))
        for tag in e.tags:
            sub(item, "category", term=tag)
        if e.summary:
            sub(item, "summary", e.summary, type="html")
        if source:
            src = sub(item, "source")
            sub(src, "id", safe_url(source.url) or urls.iri(source_path(source.slug)))
            sub(src, "title", source.name)
            sub(src, "link", rel="alternate", href=urls.link(source_path(source.slug)))
            sub(src, "updated", iso(e.published))
        if e.language:
            item.set("{http://www.w3.org/XML/1998/namespace}lang", e.language)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)


def json_feed(meta: FeedMeta, entries: Sequence[StoredEntry], sources: Mapping[str, SourceConfig], urls: PublicUrls) -> bytes:
    items = []
    for e in entries:
        source = sources.get(e.source)
        item: dict[str, object] = {
            "id": entry_id(e, urls),
            "title": e.title,
            "content_html": e.summary or "",
            "date_published": iso(e.published),
            "authors": [{"name": e.author or (source.name if source else e.source)}],
            "_aggregator": {"source": e.source, "source_name": source.name if source else e.source, "entry_id": e.id},
        }
        url = safe_url(e.url)
        if url:
            item["url"] = url
        if e.text:
            item["summary"] = e.text[:500]
        if e.updated:
            item["date_modified"] = iso(max(e.updated, e.published))
        if e.tags:
            item["tags"] = list(e.tags)
        if e.language:
            item["language"] = e.language
        items.append(item)
    doc: dict[str, object] = {"version": JSONFEED_VERSION, "title": meta.title}
    # JSON Feed's URL members are optional, and its readers expect absolute URLs: without
    # a base URL they are left out (the feed then has no next page link either).
    for name, path in (("home_page_url", meta.html_path), ("feed_url", meta.self_path), ("next_url", meta.next_path)):
        url = urls.absolute(path) if path else None
        if url:
            doc[name] = url
    doc["items"] = items
    if meta.description:
        doc["description"] = meta.description
    if meta.language:
        doc["language"] = meta.language
    return json_bytes(doc)

