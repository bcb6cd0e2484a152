"""Pure helpers about sources: slugs and OPML (no I/O)."""

from __future__ import annotations

import re
import unicodedata
from xml.sax.saxutils import quoteattr

from .model import SourceConfig


def slugify(text: str) -> str:
    """ASCII, lowercase, dash-separated: ``"Paris-luttes.info"`` -> ``"paris-luttes-info"``."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")


def sources_to_opml(sources: tuple[SourceConfig, ...] | list[SourceConfig], title: str = "Independent media") -> str:
    """OPML 2.0 of the feed and site sources, for readers who want to follow them directly."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_esc(title)}</title></head>",
        "  <body>",
    ]
    for source in sources:
        if source.url is None:
            continue
        attrs = {
            "type": "rss",
            "text": source.name,
            "title": source.name,
            "xmlUrl": source.url,
        }
        if source.website:
            attrs["htmlUrl"] = source.website
        if source.language:
            attrs["language"] = source.language
        if source.tags:
            attrs["category"] = ",".join(source.tags)
        rendered = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
        lines.append(f"    <outline {rendered}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
