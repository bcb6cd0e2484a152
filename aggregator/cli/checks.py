"""Checks every command makes the same way, so that mistakes read the same everywhere."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import UsageError
from ..settings import Settings


def check_slugs(settings: Settings, slugs: Iterable[str | None]) -> None:
    """Slugs the configuration does not have are the operator's mistake (exit 2).

    Raises:
        UsageError: ``sources.yaml: no source with slug nope``.
    """
    known = {c.slug for c in settings.config.sources}
    unknown = [s for s in slugs if s is not None and s not in known]
    if unknown:
        raise UsageError(f"{settings.config_path}: no source with slug {', '.join(unknown)}")
