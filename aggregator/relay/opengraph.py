"""A small, bounded OpenGraph reader for Bluesky link cards (pure: bytes in, card out)."""

from __future__ import annotations

from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

#: Only the head matters; a hostile page cannot make us parse megabytes.
MAX_HTML = 512 * 1024
MAX_FIELD = 1000


@dataclass(frozen=True)
class Card:
    """What ``app.bsky.embed.external`` shows: title, description and thumbnail URL."""

    url: str
    title: str
    description: str = ""
    image: str | None = None


class _HeadParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            a = {k.lower(): (v or "") for k, v in attrs}
            key = (a.get("property") or a.get("name") or "").strip().lower()
            if key and "content" in a and key not in self.meta:
                self.meta[key] = a["content"][:MAX_FIELD]
        elif tag == "title":
            self._in_title = True
        elif tag == "body":
            self.done = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "head":
            self.done = True

    def handle_data(self, data: str) -> None:
        if self._in_title and len(self.title) < MAX_FIELD:
            self.title += data


def _clean(text: str, limit: int) -> str:
    return " ".join(unescape(text).split())[:limit]


def parse_card(html: bytes | str, url: str, *, fallback_title: str = "", fallback_description: str = "") -> Card:
    """Read og:title / og:description / og:image (then twitter:*, <title>) from a page.

    Args:
        url: the page's final URL, to resolve a relative image.
        fallback_*: the entry's own title and summary, used where the page says nothing.
    """
    if isinstance(html, bytes):
        html = html[:MAX_HTML].decode("utf-8", "replace")
    else:
        html = html[:MAX_HTML]
    parser = _HeadParser()
    try:
        # Feed in chunks so that a page with a huge head stops as soon as the body starts.
        for start in range(0, len(html), 8192):
            parser.feed(html[start : start + 8192])
            if parser.done:
                break
    except Exception:  # html.parser is lenient; anything it still chokes on means "no card data"
        pass
    m = parser.meta
    title = m.get("og:title") or m.get("twitter:title") or parser.title or fallback_title
    description = m.get("og:description") or m.get("twitter:description") or m.get("description") or fallback_description
    image = m.get("og:image") or m.get("og:image:url") or m.get("og:image:secure_url") or m.get("twitter:image")
    if image:
        image = urljoin(url, image.strip())
        if urlsplit(image).scheme not in ("http", "https"):
            image = None
    return Card(url=url, title=_clean(title, 300), description=_clean(description, 1000), image=image or None)
