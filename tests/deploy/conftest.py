"""The deployment test runs only where podman does; ``make test-deploy`` makes a skip a failure."""

from __future__ import annotations

import os

import pytest

from . import podman

#: Set by ``make test-deploy`` (and so by ``make test``, hence CI): a skip would hide that
#: the deployment was not proven, so it fails instead.
REQUIRED = "AGGREGATOR_DEPLOY_REQUIRED"


def skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRED) == "1":
        pytest.fail(f"{reason} ({REQUIRED}=1: the deployment test must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def podman_ready() -> None:
    reason = podman.missing()
    if reason is not None:
        skip_or_fail(reason)
