"""Operator-command fixtures: children that are always cleaned up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scale.procs import Proc


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Children started by a test; whatever is still running at the end is killed."""
    started: list[Proc] = []
    try:
        yield started
    finally:
        for p in started:
            p.cleanup()
