"""The newsletter's JSON shapes and feeds: ``digest show --json``, ``/digest.json``,
``/digest.atom`` (docs/web.md, docs/newsletter.md). One function per object, like
``aggregator/shapes.py`` for the rest of the contracts (which cannot see the digest's
types from below): extend a shape, never rename or drop a field. Dates are ISO 8601 UTC
with a ``Z``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from ..model import to_iso
from ..webapp.http import json_bytes
from ..webapp.urls import PublicUrls
from .archive import ArchivedDay
from .compose import Digest, DigestItem

ATOM_NS = "http://www.w3.org/2005/Atom"
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"
#: Characters XML 1.0 forbids even escaped: a hostile title must not break the feed.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def item_json(item: DigestItem) -> dict[str, Any]:
    """One story of a digest: the entry shown, and the other media that ran it."""
    return {
        "entry_id": item.entry_id, "title": item.title, "source": item.source, "source_name": item.source_name,
        "url": item.url, "summary": item.summary, "published": to_iso(item.published), "language": item.language,
        "tags": list(item.tags),
        "also": [{"source": a.source, "source_name": a.source_name, "url": a.url} for a in item.also],
    }


def digest_json(digest: Digest, *, cut: bool) -> dict[str, Any]:
    """``aggregator digest show --json``: what that day's digest holds (for everyone).

    ``cut``: False when the digest is not cut yet (what it would hold if cut now).
    """
    return {
        "day": digest.day.isoformat(), "cut": cut, "window_start": to_iso(digest.window_start),
        "window_end": to_iso(digest.window_end), "stories": digest.count, "group_by": digest.group_by,
        "groups": [{"key": g.key, "label": g.label, "items": [item_json(i) for i in g.items]} for g in digest.groups],
    }


def day_path(day: ArchivedDay) -> str:
    return f"/digest/{day.row.day}"


def digest_atom(days: Sequence[ArchivedDay], *, urls: PublicUrls, title: str, locale: str, updated: datetime,
                entry_title: Callable[[ArchivedDay], str], content: Callable[[ArchivedDay], str]) -> bytes:
    """``/digest.atom``: one entry per day, its stories as HTML. Links and ids come from
    the public base URL (``urls``), never from the request: see ``webapp/urls.py``."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {k: _XML_INVALID.sub("", v) for k, v in attrs.items()})
        if text is not None:
            el.text = _XML_INVALID.sub("", text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", locale)
    sub(feed, "id", urls.iri("/digest"))
    sub(feed, "title", title)
    sub(feed, "updated", to_iso(updated) or "")
    sub(feed, "link", rel="self", type="application/atom+xml", href=urls.link("/digest.atom"))
    sub(feed, "link", rel="alternate", type="text/html", href=urls.link("/digest"))
    sub(feed, "generator", "aggregator")
    sub(sub(feed, "author"), "name", title)
    for day in days:
        entry = sub(feed, "entry")
        sub(entry, "id", urls.iri(day_path(day)))
        sub(entry, "title", entry_title(day), type="text")
        sub(entry, "link", rel="alternate", type="text/html", href=urls.link(day_path(day)))
        sub(entry, "published", to_iso(day.row.created) or "")
        sub(entry, "updated", to_iso(day.row.created) or "")
        sub(entry, "content", content(day), type="html")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)


def digest_json_feed(days: Sequence[ArchivedDay], *, urls: PublicUrls, title: str, locale: str,
                     entry_title: Callable[[ArchivedDay], str], content: Callable[[ArchivedDay], str]) -> bytes:
    """``/digest.json`` (JSON Feed 1.1): one item per day; ``_aggregator`` carries the
    day's stories as ``digest show --json`` gives them."""
    items = [_without_none({
        "id": urls.iri(day_path(day)), "url": urls.absolute(day_path(day)), "title": entry_title(day),
        "content_html": content(day), "date_published": to_iso(day.row.created), "language": locale,
        "_aggregator": digest_json(day.digest, cut=True),
    }) for day in days]
    doc = _without_none({"version": JSONFEED_VERSION, "title": title, "home_page_url": urls.absolute("/digest"),
                         "feed_url": urls.absolute("/digest.json"), "language": locale, "items": items})
    return json_bytes(doc)


def _without_none(obj: dict[str, Any]) -> dict[str, Any]:
    """JSON Feed's optional URL members are left out, not null, without a base URL."""
    return {k: v for k, v in obj.items() if v is not None}
