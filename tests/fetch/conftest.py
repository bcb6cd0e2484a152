"""Fixtures for the fetch tests: a live FeedServer and a client allowed onto loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.feedserver import FeedServer

UA = "aggregator-tests/0.1 (+https://example.invalid/contact)"


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A FeedServer on 127.0.0.1 and a free port, closed after the test."""
    async with FeedServer() as server:
        yield server
