"""Storage behind a narrow interface grouped by domain; the only place that builds SQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError
from ..model import Clock, utcnow
from .ap_deliveries import ActivityDeliveryRepo
from .ap_followers import FollowerRepo
from .ap_following import FollowingRepo
from .ap_keys import ActorKeyRepo
from .ap_seen import SeenRepo
from .base import Database
from .bluesky_feed import BlueskyFeedRepo, FeedPost
from .db import make_engine, normalize_url
from .digests import DigestRepo
from .entries import Cursor, EntryRepo, SaveResult
from .hosts import HostRepo
from .index_log import IndexLogRepo, LogRow
from .locks import LeaderLock, run_while_leader
from .mail_deliveries import MailDeliveryRepo
from .meta import MetaRepo
from .migrate import current_revision, upgrade
from .outbox import OutboxRepo
from .search import SearchRepo
from .snapshot import backup_to
from .sources import SourceRepo
from .subscribers import SubscriberRepo
from .suggestions import SuggestionRepo
from .transfer import copy_store

__all__ = ["BlueskyFeedRepo", "Cursor", "FeedPost", "LeaderLock", "LogRow", "SaveResult", "Store", "normalize_url", "run_while_leader"]


class Store:
    """The database, one repository per domain."""

    def __init__(self, url: str, *, clock: Clock = utcnow):
        self.url = normalize_url(url)
        self.db = Database(make_engine(self.url), clock)
        self.sources = SourceRepo(self.db)
        self.entries = EntryRepo(self.db)
        self.index_log = IndexLogRepo(self.db)
        self.outbox = OutboxRepo(self.db)
        self.hosts = HostRepo(self.db)
        self.meta = MetaRepo(self.db)
        self.search = SearchRepo(self.db)
        self.ap_keys = ActorKeyRepo(self.db)
        self.ap_followers = FollowerRepo(self.db)
        self.ap_following = FollowingRepo(self.db)
        self.ap_seen = SeenRepo(self.db)
        self.ap_deliveries = ActivityDeliveryRepo(self.db)
        self.subscribers = SubscriberRepo(self.db)
        self.digests = DigestRepo(self.db)
        self.mail_deliveries = MailDeliveryRepo(self.db)
        self.suggestions = SuggestionRepo(self.db)
        self.bluesky_feed = BlueskyFeedRepo(self.db)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (``aggregator db upgrade``)."""
        upgrade(self.db.engine)

    def schema_revision(self) -> str | None:
        """The migration the database is at (None: never migrated); ``doctor`` compares it."""
        try:
            return current_revision(self.db.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the schema version: {exc.__class__.__name__}: {exc}") from exc

    def copy_into(self, target: Store) -> dict[str, int]:
        """Every row of this store into the empty ``target`` (``aggregator db copy``)."""
        return copy_store(self.db, target.db)

    def backup_to(self, target: Path) -> None:
        """A consistent copy of the live SQLite database into ``target`` (``aggregator backup``)."""
        backup_to(self.db, target)

    def ping(self) -> bool:
        """True when the database answers: ``/healthz``."""
        try:
            with self.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def leader_lock(self, name: str) -> LeaderLock:
        """The lock that makes one process of several the leader of ``name`` (e.g. "relay")."""
        return LeaderLock(self.db, name)

    def close(self) -> None:
        self.db.dispose()
