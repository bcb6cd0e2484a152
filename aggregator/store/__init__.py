"""Storage behind a narrow interface grouped by domain; the only place that builds SQL."""

from __future__ import annotations

from sqlalchemy import text

from ..model import Clock, utcnow
from .base import Database
from .db import default_url, make_engine, normalize_url
from .deliveries import DeliveryRepo
from .digests import DigestRepo
from .entries import Cursor, EntryRepo, SaveResult
from .hosts import HostRepo
from .index_log import IndexLogRepo, LogRow
from .meta import MetaRepo
from .migrate import upgrade
from .outbox import OutboxRepo
from .search import SearchRepo
from .sources import SourceRepo
from .subscribers import SubscriberRepo

__all__ = ["Cursor", "LogRow", "SaveResult", "Store", "default_url", "normalize_url"]


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
        self.subscribers = SubscriberRepo(self.db)
        self.digests = DigestRepo(self.db)
        self.deliveries = DeliveryRepo(self.db)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (``aggregator db upgrade``)."""
        upgrade(self.db.engine)

    def ping(self) -> bool:
        """True when the database answers: ``/healthz``."""
        try:
            with self.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def close(self) -> None:
        self.db.engine.dispose()
