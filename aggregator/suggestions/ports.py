"""What suggestions need of the store and of the crawler's retriever (``Store`` and ``Retriever`` fit)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..model import SourceConfig, SourceState, Suggestion
from ..update.retrieve import Retrieved


class SuggestionStore(Protocol):
    def find(self, url_key: str) -> Suggestion | None: ...

    def add(
        self, *, url: str, url_key: str, note: str, outcome: str, now: datetime, feed_url: str | None = None,
        title: str | None = None, items: int | None = None, language: str | None = None, error: str | None = None,
    ) -> tuple[Suggestion, bool]: ...


class Retrieving(Protocol):
    """The crawler's retrieval of one source (``update.retrieve.Retriever``)."""

    async def retrieve(self, source: SourceConfig, state: SourceState) -> Retrieved: ...
