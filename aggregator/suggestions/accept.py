"""The ``sources.yaml`` entry an accepted suggestion becomes. Pure.

Only what the aggregator itself found goes into the file (the feed's address, its title
and language); the reader's free-text note never does, since the file is the operator's
and the note is a stranger's.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from ..model import SourceConfig, Suggestion
from ..sources import slugify

#: Slugs appear in URLs and commands: a long feed title makes a short one.
MAX_SLUG = 60


def _unique(base: str, taken: Collection[str]) -> str:
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def source_for(suggestion: Suggestion, taken_slugs: Collection[str]) -> SourceConfig:
    """A ``feed`` source when a feed was found, else a ``site`` source (discovered at crawl time)."""
    host = (urlsplit(suggestion.url).hostname or "").removeprefix("www.")
    name = " ".join((suggestion.title or "").split()) or host or suggestion.url
    base = (slugify(name)[:MAX_SLUG].strip("-") or slugify(host)[:MAX_SLUG].strip("-") or "source")
    slug = _unique(base, taken_slugs)
    if suggestion.feed_url:
        website = suggestion.url if suggestion.url != suggestion.feed_url else None
        return SourceConfig(slug=slug, name=name, kind="feed", url=suggestion.feed_url, language=suggestion.language,
                            website=website)
    return SourceConfig(slug=slug, name=name, kind="site", url=suggestion.url, language=suggestion.language)
