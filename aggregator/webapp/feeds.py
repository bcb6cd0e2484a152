"""Atom 1.0 (RFC 4287), RSS 2.0 and JSON Feed 1.1 documents of any view, from stored entries.

Pure functions: the views gather entries and paths, these only serialize. Summaries are the
stored sanitized HTML (plain text in RSS, for SPIP's and WordPress's syndication); titles
and names are text and escaped by the serializers. Every format links an item with the
same value, ``entry_link``. Links and ids come from ``PublicUrls`` (urls.py): absolute
under the configured base URL, else relative links, ``urn:uuid:`` ids and no optional
JSON Feed URLs.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from ..model import SourceConfig, StoredEntry
from ..text import html_to_text
from .http import json_bytes
from .render import iso, path_segment, safe_url
from .urls import PublicUrls

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
#: SPIP keeps 300 characters of a syndicated description ("résumé" mode); so do we.
RSS_SUMMARY_CHARS = 300
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


def entry_link(entry: StoredEntry) -> str | None:
    """The link to the original article, as every feed format gives it (or None)."""
    return safe_url(entry.url)


def entry_id(entry: StoredEntry, urls: PublicUrls) -> str:
    """A stable IRI per entry: the original link when it is a web URL."""
    return entry_link(entry) or urls.iri(f"/#item-{entry.id}")


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
        url = entry_link(e)
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
        url = entry_link(e)
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



def rss_date(value: datetime) -> str:
    """RFC 822 (as RFC 2822 writes it, four-digit year): ``Sat, 21 Nov 2026 09:00:00 GMT``."""
    return format_datetime(value.astimezone(UTC).replace(microsecond=0), usegmt=True)


def image_type(url: str) -> str | None:
    """The image's media type from its file name, when it says (``.jpg``, ``.png``…)."""
    kind, _ = mimetypes.guess_type(urlsplit(url).path)
    return kind if kind and kind.startswith("image/") else None


def rss_summary(entry: StoredEntry) -> str:
    """A short plain summary: SPIP and WordPress show it as text, markup would be noise."""
    return html_to_text(entry.text or entry.summary, limit=RSS_SUMMARY_CHARS)


def rss(meta: FeedMeta, entries: Sequence[StoredEntry], sources: Mapping[str, SourceConfig], urls: PublicUrls) -> bytes:
    """RSS 2.0 made for SPIP's and WordPress's syndication of another site.

    Where SPIP's syndication (``spip/sites``: ``analyser_backend`` in ``inc/syndic.php``,
    ``inserer_article_syndique`` in ``genie/syndic.php``) reads each field of the
    ``SYNDIC_ARTICLES`` loop: ``<title>`` (``#TITRE``); ``<guid>`` only when
    ``isPermaLink`` is true, else ``<link>`` (``#URL_ARTICLE``); ``<pubDate>`` (``#DATE``;
    no item ``<lastBuildDate>``/``<updated>``, which SPIP would take instead);
    ``<dc:creator>`` (``#LESAUTEURS``); ``<description>`` (``#DESCRIPTIF``, cut to 300
    characters of text); ``<dc:language>`` (``#LANG``); ``<source url>`` (``#SOURCE``,
    ``#URL_SOURCE``); ``<category>`` (``#TAGS``, linked to our tag pages through
    ``domain`` when the site's address is known); ``<enclosure>`` or ``<media:content>``
    (attached documents).
    """
    ET.register_namespace("atom", ATOM_NS)
    ET.register_namespace("dc", DC_NS)
    ET.register_namespace("media", MEDIA_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, tag, {k: _x(v) for k, v in attrs.items()})
        if text is not None:
            el.text = _x(text)
        return el

    doc = ET.Element("rss", {"version": "2.0"})
    channel = sub(doc, "channel")
    sub(channel, "title", meta.title)
    sub(channel, "link", urls.link(meta.html_path))
    sub(channel, "description", meta.description or meta.title)
    if meta.language:
        sub(channel, "language", meta.language)
    sub(channel, "lastBuildDate", rss_date(meta.updated))
    sub(channel, "generator", "aggregator")
    sub(channel, f"{{{ATOM_NS}}}link", rel="self", type="application/rss+xml", href=urls.link(meta.self_path))
    if meta.next_path:
        sub(channel, f"{{{ATOM_NS}}}link", rel="next", type="application/rss+xml", href=urls.link(meta.next_path))
    tag_domain = urls.absolute("/tags/")
    for e in entries:
        source = sources.get(e.source)
        name = source.name if source else e.source
        item = sub(channel, "item")
        sub(item, "title", e.title or "…")
        url = entry_link(e)
        if url:
            sub(item, "link", url)
        guid = entry_id(e, urls)
        sub(item, "guid", guid, isPermaLink="true" if guid == url else "false")
        sub(item, "pubDate", rss_date(e.published))
        sub(item, f"{{{DC_NS}}}creator", e.author or name)
        summary = rss_summary(e)
        if summary:
            sub(item, "description", summary)
        if e.language:
            sub(item, f"{{{DC_NS}}}language", e.language)
        for tag in e.tags:
            if tag_domain:
                sub(item, "category", tag, domain=tag_domain)
            else:
                sub(item, "category", tag)
        image = safe_url(e.image)
        if image:
            kind = image_type(image)
            if kind:  # RSS requires a type; length 0 says "unknown", as the spec allows
                sub(item, "enclosure", url=image, type=kind, length="0")
            else:
                sub(item, f"{{{MEDIA_NS}}}content", url=image, medium="image")
        source_url = (safe_url(source.url) if source else None) or urls.link(source_path(e.source))
        sub(item, "source", name, url=source_url)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(doc, encoding="utf-8", xml_declaration=False)
