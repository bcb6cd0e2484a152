"""Operator-command fixtures, shared with the suites they come from: children that are
always cleaned up (``procs``), the article site and the Mastodon fake of the relay tests."""

from __future__ import annotations

from tests.relay.conftest import mastodon, site
from tests.scale.conftest import procs

__all__ = ["mastodon", "procs", "site"]
