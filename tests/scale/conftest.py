"""Fixtures of the scale tests: PostgreSQL clusters of their own, children cleaned up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PostgresCluster, throwaway_cluster

from .procs import Proc


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster this test may restart without disturbing other tests' databases."""
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Children started by a test; whatever is still running at the end is killed."""
    started: list[Proc] = []
    try:
        yield started
    finally:
        for p in started:
            p.cleanup()
