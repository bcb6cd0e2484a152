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


def opml_to_sources(data: bytes) -> list[SourceConfig]:
    """Feed sources from an OPML document (nested outlines flattened, categories as tags).

    Raises:
        ValueError: when the document is not OPML.
    """
    import xml.etree.ElementTree as ET

    if b"<!ENTITY" in data:  # no entity games in a file that only lists URLs
        raise ValueError("OPML with entity declarations is refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    if root.tag.lower() != "opml":
        raise ValueError("not an OPML document (the root element is not <opml>)")
    out: list[SourceConfig] = []
    seen: set[str] = set()

    def walk(node: ET.Element, tags: tuple[str, ...]) -> None:
        for outline in node.findall("outline"):
            url = outline.get("xmlUrl") or outline.get("xmlurl")
            name = outline.get("title") or outline.get("text") or url or ""
            if url and url.startswith(("http://", "https://")):
                slug = slugify(name) or slugify(url)
                base, n = slug, 2
                while slug in seen:
                    slug, n = f"{base}-{n}", n + 1
                seen.add(slug)
                cats = tuple(c.strip().lower() for c in (outline.get("category") or "").replace("/", ",").split(",") if c.strip())
                out.append(SourceConfig(
                    slug=slug, name=name, kind="feed", url=url, website=outline.get("htmlUrl"),
                    language=(outline.get("language") or None), tags=tuple(dict.fromkeys(tags + cats)),
                ))
            walk(outline, tags + ((slugify(name),) if not url and name else ()))

    body = root.find("body")
    walk(body if body is not None else root, ())
    return out


def sources_to_yaml(sources: list[SourceConfig]) -> str:
    """YAML list items for ``sources.yaml`` (what ``opml import`` adds)."""
    import yaml

    items = []
    for s in sources:
        item: dict[str, object] = {"name": s.name, "slug": s.slug, "kind": s.kind, "url": s.url}
        if s.website:
            item["website"] = s.website
        if s.language:
            item["language"] = s.language
        if s.tags:
            item["tags"] = list(s.tags)
        items.append(item)
    return yaml.safe_dump(items, allow_unicode=True, sort_keys=False)
