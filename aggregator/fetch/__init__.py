"""Everything the aggregator downloads, and the rules it downloads by.

The package owns the network side of crawling and nothing else: it returns bytes and HTTP
facts (:class:`~aggregator.model.FetchResult`) or JSON, never entries (parsing is
``aggregator.parse``) and never rows (fetch does not import the store; the one thing it
needs from a shared store is declared as a protocol in :mod:`.host_blocks`).

- :mod:`.client`: :class:`HttpClient`, the one client every download goes through.
- :mod:`.headers`: pure parsing of the response headers the rules act on.
- :mod:`.host_blocks`: host-wide Retry-After pauses and the per-host spacing shared
  between crawler processes.
- :mod:`.politeness`: in-process per-host and global concurrency and spacing.
- :mod:`.guard`: the private-address (SSRF) guard.
- :mod:`.mastodon`, :mod:`.bluesky`: API clients (:class:`MastodonApi`,
  :class:`BlueskyAppView`) that fetch a social account's public posts as JSON.
"""

from .bluesky import BlueskyAppView
from .client import FEED_ACCEPT, JSON_ACCEPT, HttpClient
from .host_blocks import HostBlocks, HostSlots, SharedHosts
from .mastodon import MastodonApi

__all__ = [
    "FEED_ACCEPT",
    "JSON_ACCEPT",
    "BlueskyAppView",
    "HostBlocks",
    "HostSlots",
    "HttpClient",
    "MastodonApi",
    "SharedHosts",
]
