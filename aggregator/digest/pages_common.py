"""What the newsletter's pages share: their dependencies (built by the factory), the app
keys they are kept under, and the words every page uses for a day and for the
newsletter's mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from aiohttp import web
from babel.dates import format_date

from ..model import Clock, DigestConfig
from ..store import Store
from .archive import DigestArchive
from .subscriptions import Subscriptions
from .throttle import ClientLimits


@dataclass(frozen=True)
class DigestDeps:
    """What the pages need, built by the factory.

    ``closed_reason`` is set when this process cannot send mail (no SMTP server or no
    public base URL): the form then says subscriptions are closed, while confirming,
    unsubscribing (RFC 8058 included), preferences and the archive still work: none of
    them sends anything.
    """

    store: Store
    config: DigestConfig
    clock: Clock
    base_url: str | None
    subscriptions: Subscriptions
    closed_reason: str | None = None


DEPS = web.AppKey("digest", DigestDeps)
ARCHIVE = web.AppKey("digest_archive", DigestArchive)
LIMITS = web.AppKey("digest_limits", ClientLimits)


def day_label(locale: str) -> Callable[[date | str], str]:
    def label(value: date | str) -> str:
        day = date.fromisoformat(value) if isinstance(value, str) else value
        return format_date(day, "full", locale=locale)

    return label


def newsletter_mode(deps: DigestDeps) -> str:
    """``list`` (a mailing list), ``closed`` (this process cannot send mail) or ``open``."""
    if deps.config.list_address:
        return "list"
    return "closed" if deps.closed_reason else "open"
