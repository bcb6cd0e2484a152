"""What SPIP's syndication keeps of an RSS item: the fields of a ``SYNDIC_ARTICLES`` loop.

A reading, in Python, of the field mapping of SPIP's "sites" plugin (the ``spip/sites``
repository): ``analyser_backend()`` in ``inc/syndic.php`` turns each ``<item>`` into
``titre``, ``url``, ``date``, ``lesauteurs``, ``descriptif``, ``lang``, ``source``,
``url_source``, ``tags`` and ``enclosures`` with regular expressions, after stripping the
``dc:`` prefix; ``inserer_article_syndique()`` in ``genie/syndic.php`` stores them in
``spip_syndic_articles`` (in "résumé" mode the description is cut to 300 characters of
text). The loop's tags are those columns: ``#TITRE``, ``#URL_ARTICLE`` (the ``url``
column, ``balise_URL_ARTICLE_dist``), ``#DATE``, ``#LESAUTEURS``, ``#DESCRIPTIF``,
``#LANG``, ``#SOURCE``, ``#URL_SOURCE``, ``#TAGS``. We cannot run PHP here, so this mimics
the same expressions on the same text: what SPIP would find, and what it would miss.
"""

from __future__ import annotations

import html
import re
from email.utils import parsedate_to_datetime
from typing import Any

#: ``#TAG`` of a SYNDIC_ARTICLES loop -> the column SPIP fills it from.
LOOP_TAGS = {
    "TITRE": "titre", "URL_ARTICLE": "url", "DATE": "date", "LESAUTEURS": "lesauteurs",
    "DESCRIPTIF": "descriptif", "LANG": "lang", "SOURCE": "source", "URL_SOURCE": "url_source", "TAGS": "tags",
}

_FLAGS = re.I | re.S


def _text(value: str) -> str:
    """SPIP's ``textebrut(filtrer_entites(...))``: markup dropped, entities decoded."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", html.unescape(value))).split())


def _attr(tag: str, name: str) -> str | None:
    match = re.search(rf"\b{name}\s*=\s*(['\"])(.*?)\1", tag, _FLAGS)
    return html.unescape(match.group(2)) if match else None


def items(rss: str) -> list[str]:
    rss = re.sub(r"<!--.*?-->", "", rss, flags=re.S)
    rss = re.sub(r"<(/?)dc:", r"<\1", rss, flags=re.I)  # "simplifier le backend"
    return re.findall(r"<item\b.*?</item>", rss, _FLAGS)


def syndic_article(item: str, channel_language: str = "") -> dict[str, Any]:
    """One ``spip_syndic_articles`` row, as SPIP would fill it from ``item``."""
    data: dict[str, Any] = {}
    # url: a <guid> that is a URL only when isPermaLink is absent, true or 1; else <link>.
    guid = re.search(r"<guid[^>]*>\s*(https?:[^<]*)</guid>", item, _FLAGS)
    if guid and re.fullmatch(r"(true|1)?", _attr(guid.group(0), "ispermalink") or "", re.I):
        data["url"] = guid.group(1)
    elif link := re.search(r"<link[^>]*>\s*(\S+)\s*</link>", item, _FLAGS):
        data["url"] = html.unescape(link.group(1))
    else:
        data["url"] = ""
    title = re.search(r"<title[^>]*>(.*?)</title>", item, _FLAGS)
    data["titre"] = _text(title.group(1)) if title else ""
    # date: <published|modified|issued>, then <pubDate>, then <x:date>, then <date>;
    # an item's <lastBuildDate|updated|modified> would replace it.
    for pattern in (r"<(?:published|modified|issued)>([^<]*)<", r"<pubdate>([^<]*)<", r"<[a-z]+:date>([^<]*)<",
                    r"<date>([^<]*)<"):
        if found := re.search(pattern, item, _FLAGS):
            data["date"] = parsedate_to_datetime(found.group(1).strip())
            break
    data["lastbuilddate"] = re.search(r"<(lastbuilddate|updated|modified)>([^<>]+)</\1>", item, re.I) is not None
    authors = re.findall(r"<(author|creator)\b[^>]*>(.*?)</\1>", item, _FLAGS)
    data["lesauteurs"] = ", ".join(dict.fromkeys(_text(a) for _, a in authors))
    desc = re.search(r"<(description|summary)\b[^>]*>(.*?)</\1\b", item, _FLAGS)
    data["descriptif"] = _text(desc.group(2))[:300] if desc else ""
    lang = re.search(r"<([^>]*xml:)?lang(uage)?>([^<>]+)<", item, re.I)
    data["lang"] = lang.group(3).strip() if lang else channel_language
    source = re.search(r"(<source[^>]*>)(([^<>]+)</source>)?", item, re.I)
    data["source"] = html.unescape(source.group(3).strip()) if source and source.group(3) else ""
    data["url_source"] = (_attr(source.group(1), "url") or "") if source else ""
    data["tags"] = [_tag(match) for match in re.finditer(
        r"<(([a-z]+:)?(subject|category|directory|keywords?|tags?|type))[^>]*>(.*?)</\1>", item, _FLAGS)]
    data["enclosures"] = [
        {"url": _attr(tag, "url"), "type": _attr(tag, "type")}
        for tag in re.findall(r"<enclosure\s[^<>]+>|<media:content\b[^<>]+>", item, re.I)
    ]
    return data


def _tag(match: re.Match[str]) -> dict[str, str]:
    """``ajouter_tags``: a category is a "directory" link, ``domain`` ending in / + the word is its URL."""
    text = _text(match.group(4))
    domain = _attr(match.group(0), "domain") or ""
    rel = "directory" if match.group(3).lower() in ("category", "directory") else "tag"
    return {"rel": rel, "text": text, "href": domain + text if domain.endswith("/") else domain}


def syndicate(rss: str) -> list[dict[str, Any]]:
    channel = re.search(r"<language>([^<]+)</language>", rss.split("<item", 1)[0], re.I)
    return [syndic_article(item, channel.group(1) if channel else "") for item in items(rss)]


def loop_tags(template: str) -> list[str]:
    """The ``#TAGS`` a SPIP template uses (``#URL_ARTICLE``, ``(#DATE|affdate)``…)."""
    return re.findall(r"#([A-Z_]+)", template)
