"""Posting to Mastodon with Mastodon.py, kept off the event loop (it is synchronous)."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from ..errors import RelayError
from ..model import Clock, MastodonTarget
from ..tracking import strip_tracking
from .plan import Job
from .targets import Delivered

T = TypeVar("T")

#: Mastodon allows 300 API calls per 5 minutes per account; stop a little before the end
#: (the X-RateLimit-Remaining header) so that the operator's own clients keep working.
RESERVE_CALLS = 10
#: Recent statuses read back when reconciling (3 pages of 40).
RECONCILE_PAGES = 3
HREF = re.compile(r'href="([^"]+)"')


class MastodonPoster:
    """The relay's Mastodon account: link posts with an Idempotency-Key, boosts of sources."""

    name = "mastodon"

    def __init__(self, target: MastodonTarget, token: str, *, user_agent: str, clock: Clock):
        self.target = target
        self.clock = clock
        # version_check_mode="none": no /api/v1/instance call at start; "throw": a 429 raises
        # instead of sleeping inside the worker thread, so the loop decides what to wait for.
        self.api = Mastodon(
            access_token=token, api_base_url=target.api_base_url, version_check_mode="none",
            # Without a version Mastodon.py asks the instance on some calls (search): any
            # server the relay talks to runs 4.x; the API calls used exist since 3.x.
            mastodon_version="4.3.0",
            ratelimit_method="throw", request_timeout=30, user_agent=user_agent,
        )
        self._paused: datetime | None = None
        self._account_id: str | None = None

    def paused_until(self) -> datetime | None:
        if self._paused is not None and self._paused <= self.clock():
            self._paused = None
        return self._paused

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except MastodonRatelimitError as exc:
            wait = self._reset_in() or 300.0
            self._paused = self.clock() + timedelta(seconds=wait)
            raise RelayError(f"mastodon: rate limited ({exc})", target=self.name, retry_after=wait) from exc
        except MastodonNotFoundError as exc:
            raise RelayError(f"mastodon: not found: {_detail(exc)}", target=self.name, permanent=True) from exc
        except MastodonUnauthorizedError as exc:
            raise RelayError(f"mastodon: refused the access token: {_detail(exc)}", target=self.name) from exc
        except MastodonServerError as exc:
            raise RelayError(f"mastodon: server error: {_detail(exc)}", target=self.name) from exc
        except MastodonAPIError as exc:
            status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
            # 422 and other 4xx: the server will refuse this status every time.
            permanent = status is not None and 400 <= status < 500 and status not in (408, 409, 425)
            raise RelayError(f"mastodon: {_detail(exc)}", target=self.name, permanent=permanent) from exc
        except MastodonNetworkError as exc:
            raise RelayError(f"mastodon: network error: {exc}", target=self.name) from exc
        except MastodonError as exc:
            raise RelayError(f"mastodon: {exc.__class__.__name__}: {exc}", target=self.name) from exc
        finally:
            self._watch_limits()

    def _reset_in(self) -> float | None:
        reset = self.api.ratelimit_reset
        if not reset:
            return None
        # Mastodon.py keeps the reset as wall-clock epoch seconds (adjusted by the server's Date).
        return max(1.0, float(reset) - time.time())

    def _watch_limits(self) -> None:
        """Pause before the 300-calls window runs out (X-RateLimit-Remaining / -Reset)."""
        remaining = self.api.ratelimit_remaining
        if remaining is not None and remaining <= RESERVE_CALLS:
            wait = self._reset_in()
            if wait:
                self._paused = self.clock() + timedelta(seconds=wait)

    async def deliver(self, job: Job) -> Delivered:
        if job.action == "boost":
            return await self._boost(job)
        assert job.post is not None
        status = await self._call(
            self.api.status_post,
            job.post.text,
            visibility=self.target.visibility,
            language=job.post.language,
            # Mastodon remembers the key for one hour and answers a repeat with the first
            # status instead of creating a second one.
            idempotency_key=job.idempotency_key,
        )
        return Delivered(str(status["id"]), status.get("url"))

    async def _boost(self, job: Job) -> Delivered:
        assert job.native_uri
        # A status of another instance has no id here until the relay's instance fetches
        # it: search with resolve=true does that.
        found = await self._call(self.api.search_v2, job.native_uri, resolve=True, result_type="statuses")
        statuses = found.get("statuses") or []
        if not statuses:
            raise RelayError(f"mastodon: {job.native_uri} cannot be resolved on the relay's instance",
                             target=self.name, url=job.native_uri, permanent=True)
        # Reblogging twice is harmless: Mastodon answers with the existing reblog.
        reblog = await self._call(self.api.status_reblog, statuses[0]["id"])
        original = reblog.get("reblog") or {}
        return Delivered(str(reblog["id"]), original.get("url") or reblog.get("url"))

    async def find(self, job: Job) -> Delivered | None:
        """Look for the job's status among the account's recent ones (after a crash).

        The Idempotency-Key already covers an hour; reading back also covers older attempts.
        A boost needs no search: reblogging again returns the existing reblog.
        """
        if job.action != "post" or not job.url:
            return None
        if self._account_id is None:
            me = await self._call(self.api.account_verify_credentials)
            self._account_id = str(me["id"])
        page: Any = await self._call(self.api.account_statuses, self._account_id, limit=40)
        oldest = (job.created - timedelta(minutes=5)) if job.created else None
        for _ in range(RECONCILE_PAGES):
            if not page:
                return None
            for status in page:
                if status.get("reblog"):
                    continue
                if _links_to(status, job.url):
                    return Delivered(str(status["id"]), status.get("url"))
            last = page[-1].get("created_at")
            if oldest is not None and isinstance(last, datetime) and last < oldest:
                return None
            page = await self._call(self.api.fetch_next, page)
        return None

    async def verify(self) -> str:
        """``verify_credentials``: the token works (scope ``read:accounts``); nothing is posted."""
        me = await self._call(self.api.account_verify_credentials)
        self._account_id = str(me["id"])
        return f"@{me['acct']} on {self.target.api_base_url}"

    async def close(self) -> None:
        await asyncio.to_thread(self.api.session.close)


def _links_to(status: Any, url: str) -> bool:
    """Whether a status links to ``url``, tracking parameters aside: an attempt made before
    the upgrade that cleaned stored links (migration 0005) posted the link as it came."""
    url = strip_tracking(url)
    card = status.get("card") or {}
    if isinstance(card.get("url"), str) and strip_tracking(card["url"]) == url:
        return True
    content = status.get("content") or ""
    return any(strip_tracking(html.unescape(href)) == url for href in HREF.findall(content))


def _detail(exc: BaseException) -> str:
    args = [a for a in exc.args if a is not None]
    return " ".join(str(a) for a in args[1:]) or str(exc)
