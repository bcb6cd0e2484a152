"""Fixtures of the fediverse tests: real recordings and payloads, the real Bluesky network."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from aggregator.fetch.client import HttpClient

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


@pytest.fixture
def corpus_json() -> Callable[[str], Any]:
    """Load ``../shared/corpus/<relative path>`` as JSON; skip with the reason when absent."""

    def load(relative: str) -> Any:
        path = CORPUS / relative
        if not path.is_file():
            pytest.skip(f"shared corpus file not found: {path}")
        return json.loads(path.read_text(encoding="utf-8"))

    return load


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    """The project's HTTP client, allowed onto loopback, without the per-host pause."""
    async with HttpClient(user_agent="aggregator-tests/0.1", allow_private=True, per_host_delay=0) as client:
        yield client
