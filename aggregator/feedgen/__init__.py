"""The Bluesky feed generator, list and starter pack (issue 14): the network on Bluesky.

No firehose is needed: the store already holds the sources' own Bluesky posts
(``entries.native_uri``) and the at:// URI of every relay post (``outbox.remote_id``).

Modules, each with one job:

- ``identity``: pure: our did:web from the public base URL, its document, record keys and URIs;
- ``skeleton``: ``getFeedSkeleton`` and ``describeFeedGenerator`` (limits, opaque cursor,
  ``UnknownFeed``) over ``store.bluesky_feed``;
- ``auth``: the service JWT an AppView forwards for a logged-in reader, verified when sent;
- ``routes``: the web routes, mounted on the readers' app by the factory;
- ``publish``: ``aggregator bluesky publish`` and ``run``'s sync loop: the generator
  records, the curation list of the sources' accounts and the starter pack, written with
  the relay account's session.

It sits above ``webapp | relay | update`` (import-linter): it reuses the web app's reader
threads and the relay's Bluesky session, and neither of those knows about it.
"""

from .auth import DidKeys, ServiceAuth
from .identity import did_web
from .publish import Outcome, Publisher, keep_in_sync
from .routes import FeedRoutes, setup
from .skeleton import FeedGenerator

__all__ = ["DidKeys", "FeedGenerator", "FeedRoutes", "Outcome", "Publisher", "ServiceAuth", "did_web", "keep_in_sync", "setup"]
