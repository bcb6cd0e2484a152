"""Reading a suggested address once, as the crawler would, within a bounded time.

The address is retrieved like a ``site`` source (``update/retrieve``): a feed is read
directly; an HTML page has its feeds discovered and the first readable one read. Every
request goes through the crawler's HTTP client, so its guard refuses private and loopback
addresses (after DNS, and on every redirect) before connecting, its size and time limits
hold, and its politeness applies. The whole check is cut at ``seconds``: a slow site gets
a clear "could not read it in time" rather than a reader waiting half a minute.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .. import logs
from ..errors import BlockedAddressError, FetchError, ParseError
from ..model import SourceConfig, SourceState
from .ports import Retrieving

log = logs.get("aggregator.suggestions")

#: How long a reader waits at most for the check of their suggestion.
CHECK_SECONDS = 10.0
MAX_TITLE = 200
_LANG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True)
class CheckResult:
    """What reading the address found.

    ``outcome``: ``ok`` (a feed, with its title and item count), ``no_feed`` (read, but no
    feed in it), ``unreadable`` (the download failed), ``timeout`` (no complete answer in
    time), ``refused`` (a private or loopback address: nothing was requested, nothing kept).
    """

    outcome: str
    feed_url: str | None = None
    title: str | None = None
    items: int | None = None
    language: str | None = None
    error: str | None = None


def _language(value: str | None) -> str | None:
    """A feed's language as ``sources.yaml`` accepts it (``fr``, ``fr-fr``), else None."""
    code = (value or "").strip().lower().replace("_", "-")
    head = code.split("-")[0]
    if not code or not 2 <= len(head) <= 3 or not head.isalpha() or not set(code) <= _LANG_CHARS:
        return None
    return code[:20]


async def check_url(retriever: Retrieving, url: str, *, seconds: float = CHECK_SECONDS) -> CheckResult:
    """Read ``url`` once; never raises for what the remote site does."""
    source = SourceConfig(slug="suggestion", name="suggestion", kind="site", url=url)
    state = SourceState(slug="suggestion", url=url)
    try:
        async with asyncio.timeout(seconds):
            got = await retriever.retrieve(source, state)
    except TimeoutError:
        return CheckResult("timeout", error=f"no complete answer within {seconds:g} s")
    except BlockedAddressError as exc:
        return CheckResult("refused", error=str(exc))
    except ParseError as exc:
        return CheckResult("no_feed", error=str(exc))
    except FetchError as exc:
        return CheckResult("unreadable", error=str(exc))
    parsed = got.parsed
    if parsed is None:  # a conditional answer to a first request: nothing to show
        return CheckResult("unreadable", error="the server answered 304 Not Modified to a first request")
    title = " ".join((parsed.feed.title or "").split())[:MAX_TITLE] or None
    return CheckResult(
        "ok", feed_url=got.resolved_id or url, title=title, items=len(parsed.entries),
        language=_language(parsed.feed.language),
    )
