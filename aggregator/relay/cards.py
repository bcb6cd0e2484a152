"""Link cards for Bluesky: the article's OpenGraph data and a thumbnail small enough to upload."""

from __future__ import annotations

import asyncio
from typing import Protocol

from .. import logs
from ..errors import FetchError
from ..model import FetchResult
from .opengraph import Card, parse_card
from .thumbnail import make_thumbnail

log = logs.get(__name__)


class PageGetter(Protocol):
    async def get(self, url: str, *, accept: str = ...) -> FetchResult: ...


async def fetch_card(http: PageGetter, url: str, *, title: str, description: str, image: str | None) -> Card:
    """The card for ``url``; the entry's own title, summary and image where the page fails.

    A page that cannot be fetched still gives a card (Bluesky shows it without image):
    the post must not wait on the article's web server.
    """
    try:
        page = await http.get(url, accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.1")
    except FetchError as exc:
        log.info("relay.card_page_failed", url=url, error=exc)
        return Card(url=url, title=title, description=description[:1000], image=image)
    card = parse_card(page.body, page.url or url, fallback_title=title, fallback_description=description)
    return Card(url=url, title=card.title, description=card.description, image=card.image or image)


async def fetch_thumbnail(http: PageGetter, image_url: str) -> tuple[bytes, str] | None:
    """The card's image as JPEG/PNG bytes under the blob limit, or None (no image then)."""
    try:
        result = await http.get(image_url, accept="image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8")
    except FetchError as exc:
        log.info("relay.thumbnail_failed", url=image_url, error=exc)
        return None
    # Decoding and re-encoding an image is CPU work: keep it off the event loop.
    return await asyncio.to_thread(make_thumbnail, result.body)
