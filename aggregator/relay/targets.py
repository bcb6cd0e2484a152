"""What every relay target offers the delivery loop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..model import RelayConfig
from ..settings import Credentials
from .plan import Job

#: Where the Bluesky target keeps its session in the store's ``meta`` table (here, not in
#: ``bluesky.py``, so the factory names it without importing the atproto SDK).
BLUESKY_SESSION_KEY = "relay.bluesky.session"


@dataclass(frozen=True)
class Delivered:
    """Where the post (or boost) lives on the target."""

    remote_id: str
    remote_url: str | None = None


class Target(Protocol):
    name: str

    def paused_until(self) -> datetime | None:
        """Set while the target's rate limit is exhausted: no row is claimed until then."""
        ...

    async def find(self, job: Job) -> Delivered | None:
        """Did an earlier attempt of this job land? (reconciliation after an unclean stop)"""
        ...

    async def deliver(self, job: Job) -> Delivered:
        """Post, boost or repost; raises RelayError (``retry_after``, ``permanent``)."""
        ...

    async def verify(self) -> str:
        """An authenticated call that posts nothing (``aggregator doctor``): the account's name.

        Raises RelayError when the credentials are refused or the service cannot be reached.
        """
        ...

    async def close(self) -> None: ...


def enabled_targets(config: RelayConfig, credentials: Credentials) -> tuple[str, ...]:
    """Targets both configured in ``relay:`` and credentialed in the environment."""
    names = []
    if config.mastodon is not None and credentials.mastodon_token:
        names.append("mastodon")
    if config.bluesky is not None and credentials.bluesky_handle and credentials.bluesky_password:
        names.append("bluesky")
    return tuple(names)
