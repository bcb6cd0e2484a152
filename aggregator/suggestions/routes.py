"""``/suggest``: the form, and the answer to a posted suggestion (fields ``url`` and ``note``).

In order, a posted suggestion is: refused when another site's page posts it
(``Sec-Fetch-Site: cross-site``: a hostile page must not make its visitors' browsers
suggest for it); dropped in silence when the honeypot field is filled (robots get the same
thank-you as people); refused when too big or not a web address (none of which costs
more than reading the form); rate-limited per client and overall (``limits``); answered
without any fetch when the URL is already a source or already suggested (one row per
URL); else read once (``check``) and stored as pending.
Answers are never cached and set no cookie; nothing of a suggestion appears on public
pages. Logs name the outcome, never the reader's address.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .. import logs
from ..model import Clock
from ..webapp.context import HTML, base_context, in_thread, render_page, ui_locale
from ..webapp.health_words import N_
from ..webapp.keys import DIRECTORY, RENDERER
from .check import CHECK_SECONDS, check_url
from .limits import RateLimiter
from .ports import Retrieving, SuggestionStore
from .urls import MAX_URL, InvalidSuggestion, normalize_url, url_key

log = logs.get("aggregator.suggestions")

MAX_NOTE = 1000
#: A form of two short fields is far smaller; anything bigger is not our form.
MAX_BODY = 8 * 1024
#: The honeypot: hidden from sighted readers, labelled "leave empty" for screen readers.
TRAP_FIELD = "website"


@dataclass
class SuggestDeps:
    """What the routes need; the factory builds it (``Aggregator.web_app``)."""

    store: SuggestionStore
    #: The crawler's retriever, built on first use (the HTTP client and parse pool are).
    retriever: Callable[[], Awaitable[Retrieving]]
    clock: Clock
    check_seconds: float = CHECK_SECONDS
    limiter: RateLimiter = field(default_factory=RateLimiter)


SUGGESTIONS = web.AppKey("suggestions", SuggestDeps)


def setup(app: web.Application, deps: SuggestDeps) -> None:
    """Mount ``/suggest`` on the readers' application."""
    app[SUGGESTIONS] = deps
    app.router.add_get("/suggest", form, name="suggest")
    app.router.add_post("/suggest", submit, name="suggest_post")


async def form(request: web.Request) -> web.Response:
    locale = ui_locale(request)
    context = base_context(request, locale, answer=None, url="", note="", max_url=MAX_URL, max_note=MAX_NOTE,
                           trap=TRAP_FIELD)
    return render_page(request, "suggest.html", context, locale=locale)


def _answer(request: web.Request, locale: str, status: int, kind: str, *, message: str | None = None,
            url: str = "", note: str = "", **facts: Any) -> web.Response:
    """The form again, with what happened; personal and immediate: never stored by a cache."""
    renderer = request.app[RENDERER]
    context = base_context(
        request, locale, answer={"kind": kind, "message": renderer.gettext(locale, message) if message else None, **facts},
        url=url, note=note, max_url=MAX_URL, max_note=MAX_NOTE, trap=TRAP_FIELD,
    )
    body = renderer.render(locale, "suggest.html", context).encode()
    headers = {"Cache-Control": "no-store"}
    return web.Response(body=body, status=status, headers={**headers, "Content-Type": HTML})


def _configured(request: web.Request, key: str) -> bool:
    """Whether the address is already one of the configured sources (feed or website)."""
    for source in request.app[DIRECTORY].by_slug().values():
        for known in (source.url, source.website):
            if known and url_key(known) == key:
                return True
    return False


async def submit(request: web.Request) -> web.Response:
    deps = request.app[SUGGESTIONS]
    locale = ui_locale(request)
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return _answer(request, locale, 403, "error", message=N_("Suggestions are taken from this site's own form only."))
    if (request.content_length or 0) > MAX_BODY:
        return _answer(request, locale, 413, "error", message=N_("This suggestion is too long."))
    data = await request.post()
    raw_url, note, trap = (str(data.get(name) or "") for name in ("url", "note", TRAP_FIELD))
    if trap.strip():
        log.info("suggest.trapped")
        return _answer(request, locale, 200, "thanks")
    if len(raw_url) > MAX_URL or len(note) > MAX_NOTE or (request.content_length is None and len(raw_url) + len(note) > MAX_BODY):
        return _answer(request, locale, 413, "error", message=N_("This suggestion is too long."), url=raw_url[:MAX_URL])
    note = " ".join(note.split())
    try:
        url = normalize_url(raw_url)
    except InvalidSuggestion as exc:
        return _answer(request, locale, 400, "error", message=exc.message, url=raw_url, note=note)
    wait = deps.limiter.check(request.remote or "unknown")
    if wait is not None:
        log.info("suggest.limited")
        response = _answer(request, locale, 429, "error", url=raw_url, note=note,
                           message=N_("Too many suggestions from your connection: please try again in a few minutes."))
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    key = url_key(url)
    if _configured(request, key):
        return _answer(request, locale, 200, "known", url=url)
    existing = await in_thread(request, deps.store.find, key)
    if existing is not None:
        log.info("suggest.duplicate", id=existing.id)
        return _answer(request, locale, 200, "duplicate", url=url)
    result = await check_url(await deps.retriever(), url, seconds=deps.check_seconds)
    if result.outcome == "refused":
        log.info("suggest.refused", outcome=result.outcome)
        return _answer(request, locale, 400, "error", url=raw_url, note=note,
                       message=N_("This address is on a private network: it cannot be read from here."))
    now = deps.clock()

    def store() -> Any:
        return deps.store.add(
            url=url, url_key=key, note=note, outcome=result.outcome, now=now, feed_url=result.feed_url,
            title=result.title, items=result.items, language=result.language, error=result.error,
        )

    suggestion, created = await in_thread(request, store)
    log.info("suggest.received", id=suggestion.id, outcome=result.outcome, new=created)
    return _answer(request, locale, 200, result.outcome, url=url, feed_url=result.feed_url, title=result.title,
                   count=result.items, error=result.error, seconds=deps.check_seconds)
