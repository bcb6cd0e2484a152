"""The newsletter's archive on the web, for people without e-mail: ``/digest`` (the days,
newest first, paged), ``/digest/YYYY-MM-DD`` (one day) and ``/digest.atom``,
``/digest.json`` (one entry per day). Nothing here reads a subscriber."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from aiohttp import web

from ..webapp.context import base_context, in_thread, render_page, ui_locale
from ..webapp.http import conditional
from ..webapp.keys import PUBLIC_URLS, RENDERER
from . import shapes
from .archive import ARCHIVE_PAGE, ArchivedDay
from .pages_common import ARCHIVE, DEPS, day_label, newsletter_mode
from .render import N_

#: Feeds are polled; an hour is plenty for something that changes once a day.
FEED_MAX_AGE = 3600
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Words of the feeds, in the pages' catalogue (``messages``; web/babel.cfg extracts this file).
SITE_NAME = N_("Independent media")
FEED_TITLE = N_("Daily digest")


async def archive_page(request: web.Request) -> web.Response:
    before_text = request.query.get("before")
    before = _parse_day(before_text) if before_text else None
    if before_text and before is None:
        raise web.HTTPNotFound()
    archive = request.app[ARCHIVE]
    rows = await in_thread(request, lambda: archive.days(limit=ARCHIVE_PAGE + 1, before=before))
    more, rows = len(rows) > ARCHIVE_PAGE, rows[:ARCHIVE_PAGE]
    locale = ui_locale(request)
    context = base_context(request, locale, rows=rows, older=f"/digest?before={rows[-1].day}" if more else None,
                           feeds={"atom": "/digest.atom", "json": "/digest.json"}, newsletter_mode=newsletter_mode(request.app[DEPS]))
    last = max((r.created for r in rows), default=None)
    return render_page(request, "digest/archive.html", context, locale=locale, last_modified=last)


def _parse_day(text: str) -> date | None:
    if not _DAY.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


async def day_page(request: web.Request) -> web.Response:
    day = _parse_day(request.match_info["day"])
    if day is None:
        raise web.HTTPNotFound()
    found: ArchivedDay | None = await in_thread(request, request.app[ARCHIVE].day, day)
    if found is None:
        raise web.HTTPNotFound()
    locale = ui_locale(request)
    context = base_context(request, locale, day=found, digest=found.digest,
                           feeds={"atom": "/digest.atom", "json": "/digest.json"})
    return render_page(request, "digest/day.html", context, locale=locale, last_modified=found.row.created)


async def _recent(request: web.Request) -> list[ArchivedDay]:
    return await in_thread(request, request.app[ARCHIVE].recent)


def _feed_parts(request: web.Request, locale: str) -> dict[str, Any]:
    """Title, entry titles and entry contents of the feeds, in the reader's language."""
    renderer = request.app[RENDERER]
    translations = renderer.translations[locale]
    label = day_label(locale)

    def entry_title(day: ArchivedDay) -> str:
        words = translations.ngettext("%(date)s: %(num)d article", "%(date)s: %(num)d articles", day.digest.count)
        return words % {"date": label(day.digest.day), "num": day.digest.count}

    def content(day: ArchivedDay) -> str:
        return renderer.render(locale, "digest/_feed_entry.html", {"digest": day.digest})

    title = f"{renderer.gettext(locale, SITE_NAME)} · {renderer.gettext(locale, FEED_TITLE)}"
    return {"urls": request.app[PUBLIC_URLS], "title": title, "locale": locale, "entry_title": entry_title, "content": content}


async def digest_atom(request: web.Request) -> web.Response:
    days = await _recent(request)
    locale = ui_locale(request)
    updated = max((d.row.created for d in days), default=None)
    body = shapes.digest_atom(days, updated=updated or request.app[DEPS].clock(), **_feed_parts(request, locale))
    return conditional(request, body, "application/atom+xml; charset=utf-8", max_age=FEED_MAX_AGE,
                       last_modified=updated, vary="Accept-Language, Cookie")


async def digest_json(request: web.Request) -> web.Response:
    days = await _recent(request)
    locale = ui_locale(request)
    body = shapes.digest_json_feed(days, **_feed_parts(request, locale))
    return conditional(request, body, "application/feed+json; charset=utf-8", max_age=FEED_MAX_AGE,
                       last_modified=max((d.row.created for d in days), default=None), vary="Accept-Language, Cookie")
