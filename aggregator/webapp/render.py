"""Jinja2 rendering of ``web/templates``: one environment per interface locale, autoescaped.

Everything a template prints is escaped, except the two fragments that went through an
allowlist here (``excerpt`` and ``snippet``). Third-party summaries were sanitized when
stored; the river re-cleans them with a *stricter* allowlist (no images, audio, video or
tables) so a page never makes the reader's browser fetch anything from a third-party host.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import jinja2
import nh3
from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from markupsafe import Markup

from ..shapes import safe_url
from ..templating import LOCALES, load_translations, make_environment, web_root
from ..text import CLEAN_CONTENT_TAGS, html_to_text

#: Readers without JavaScript see dates in the time zone of most sources;
#: ``static/localtime.js`` rewrites them in the reader's own zone.
DISPLAY_ZONE = ZoneInfo("Europe/Paris")

EXCERPT_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "cite", "code", "del", "em", "i", "ins", "li",
    "mark", "ol", "p", "q", "s", "small", "strong", "sub", "sup", "u", "ul",
}
EXCERPT_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}
#: Past this many characters of HTML the excerpt falls back to cut plain text.
EXCERPT_MAX_HTML = 2000
EXCERPT_MAX_TEXT = 400
_ACCOUNT = re.compile(r"^@?([A-Za-z0-9_]{1,64})@([A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63})$")
_HANDLE = re.compile(r"^([a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?\.)+[a-z]{2,63}$")


@lru_cache(maxsize=8192)
def clean_excerpt(summary: str, text: str) -> Markup:
    """A river excerpt: inline markup only, links rel=noopener, nothing fetched."""
    if summary and len(summary) <= EXCERPT_MAX_HTML:
        cleaned = nh3.clean(
            summary,
            tags=EXCERPT_TAGS,
            clean_content_tags=CLEAN_CONTENT_TAGS,
            attributes=EXCERPT_ATTRIBUTES,
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer nofollow",
            strip_comments=True,
        )
        return Markup(cleaned)  # output of an allowlist sanitizer
    plain = html_to_text(summary) if summary and not text else text
    cut = html_to_text(plain, limit=EXCERPT_MAX_TEXT) if plain else ""
    return Markup("<p>%s</p>") % cut if cut else Markup("")


@lru_cache(maxsize=4096)
def clean_snippet(snippet: str) -> Markup:
    """A search snippet keeps only its highlight marks, whatever the index returned."""
    cleaned = nh3.clean(snippet or "", tags={"b", "mark", "em", "strong"}, attributes={}, strip_comments=True)
    return Markup(cleaned.replace("<b>", "<mark>").replace("</b>", "</mark>"))


@lru_cache(maxsize=16384)
def format_local(value: datetime, locale: str) -> str:
    """Paris-time date and time in the locale's words; cached, Babel is slow per call."""
    local = value.astimezone(DISPLAY_ZONE)
    return f"{format_date(local, 'medium', locale=locale)} {format_time(local, 'short', locale=locale)}"


@lru_cache(maxsize=16384)
@lru_cache(maxsize=16384)
def host_of(value: str | None) -> str:
    url = safe_url(value)
    if not url:
        return ""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


def path_segment(value: str) -> str:
    """A tag as one URL path segment (``/`` included), for ``/tags/{tag}`` links."""
    return quote(value, safe="")


def mastodon_url(account: str | None) -> str | None:
    """``@user@instance`` -> ``https://instance/@user`` (the profile readers can follow)."""
    match = _ACCOUNT.match(account or "")
    return f"https://{match.group(2)}/@{match.group(1)}" if match else None


def bluesky_url(handle: str | None) -> str | None:
    value = (handle or "").strip().lstrip("@").lower()
    return f"https://bsky.app/profile/{value}" if _HANDLE.match(value) else None


def iso(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Renderer:
    """Templates and catalogues, loaded once at startup."""

    def __init__(self, root: Path | None = None):
        self.root = root or web_root()
        self.static_dir = self.root / "static"
        self.translations = load_translations(self.root / "translations")
        self.static_version = self._static_version()
        self.envs: dict[str, jinja2.Environment] = {}
        for locale in LOCALES:
            env = make_environment(self.root / "templates", self.translations[locale], locale=locale)
            env.filters["excerpt"] = lambda e: clean_excerpt(e.summary, e.text)
            env.filters["snippet"] = clean_snippet
            env.filters["safe_url"] = safe_url
            env.filters["host"] = host_of
            env.filters["iso"] = iso
            env.filters["pathseg"] = path_segment
            env.filters["mastodon_url"] = mastodon_url
            env.filters["bluesky_url"] = bluesky_url
            env.filters["date"] = self._date_filter(locale)
            env.filters["number"] = partial(format_decimal, locale=locale)  # 10 000 / 10,000
            env.globals["static"] = self.static_url
            env.globals["query"] = query_string
            self.envs[locale] = env

    def _static_version(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.static_dir.glob("*")):
            if path.is_file():
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:10]

    def static_url(self, name: str) -> str:
        """A versioned URL, so static files can be cached for a long time."""
        return f"/static/{name}?v={self.static_version}"

    @staticmethod
    def _date_filter(locale: str) -> Any:
        def date(value: datetime | None) -> str:
            return "" if value is None else format_local(value, locale)

        return date

    def gettext(self, locale: str, message: str) -> str:
        return self.translations[locale].gettext(message)

    def render(self, locale: str, template: str, context: dict[str, Any]) -> str:
        return self.envs[locale].get_template(template).render(context)


def query_string(base: dict[str, Any], **changes: Any) -> str:
    """``?a=1&b=2`` from the current filters with some changed (None drops a key)."""
    merged = {**base, **changes}
    pairs = [(k, v) for k, v in merged.items() if v not in (None, "")]
    return "?" + urlencode(pairs) if pairs else ""
