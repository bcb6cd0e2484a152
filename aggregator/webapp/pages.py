"""The HTML pages: river, tags, sources, a source, search. Thin: read, then render."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from .. import logs
from ..errors import AggregatorError
from ..store import Cursor
from .context import base_context, in_thread, link_path, render_page, ui_locale
from .data import (
    Page,
    SourceHealth,
    bluesky_links,
    failing_first,
    river_page,
    rows_health,
    search_page,
    source_health,
    source_row,
    source_rows,
)
from .health_words import STATUS_WORDS, plain_error
from .keys import CONFIG, INDEX, STORE
from .params import BadRequest, Filters, decode_cursor, parse_filters, parse_limit
from .render import query_string

log = logs.get("aggregator.web")

PAGE_SIZE = 30
SEARCH_PAGE_SIZE = 20
PAGE_MAX = 100  # ``limit=`` on pages: 1 to this


def feed_links(filters: Filters) -> dict[str, str]:
    query = filters.as_query()
    return {"atom": "/feed.atom" + query_string(query), "json": "/feed.json" + query_string(query),
            "rss": "/feed.rss" + query_string(query)}


def _limit_param(limit: int, default: int) -> str | None:
    """``limit`` to carry in a page's links, when the reader chose one."""
    return str(limit) if limit != default else None


def keyset_cursor(request: web.Request) -> Cursor | None:
    cursor = decode_cursor(request.query.get("cursor"))
    if isinstance(cursor, int):
        raise BadRequest("cursor: not a position this site gave out")
    return cursor


def page_last_modified(page: Page) -> datetime | None:
    dates = [max(i.entry.first_seen, i.entry.updated or i.entry.first_seen) for i in page.items]
    return max(dates) if dates else None


async def _river_view(request: web.Request, filters: Filters, template: str, **extra: Any) -> web.Response:
    locale = ui_locale(request)
    limit = parse_limit(request.query, PAGE_SIZE, PAGE_MAX)
    page = await in_thread(request, river_page, request.app[STORE], filters, keyset_cursor(request), limit)
    # The path says the source or tag of its own page; the other filters ride along.
    kept: dict[str, str | None] = {
        k: v for k, v in filters.as_query().items() if template == "river.html" or k not in ("source", "tag")}
    kept["limit"] = _limit_param(limit, PAGE_SIZE)
    context = base_context(
        request, locale, filters=filters, page=page, feeds=feed_links(filters),
        older_url=(link_path(request) + query_string(kept, cursor=page.next_cursor)) if page.next_cursor else None,
        first_page=request.query.get("cursor") is None,
        **extra,
    )
    return render_page(request, template, context, locale=locale, last_modified=page_last_modified(page))


async def river(request: web.Request) -> web.Response:
    filters = parse_filters(request.query)
    if filters.q:
        raise web.HTTPFound("/search" + query_string(dict(request.query)))
    # The front page says when the sources are failing (or not fetched yet): an empty
    # river must not look like a quiet day when it is a broken install.
    health: SourceHealth | None = None
    if not filters.as_query() and request.query.get("cursor") is None:
        health = await in_thread(request, source_health, request.app[STORE])
    return await _river_view(request, filters, "river.html", sources_health=health)


async def tag(request: web.Request) -> web.Response:
    name = " ".join(request.match_info["tag"].split()).lower()
    if not name or len(name) > 200:
        raise web.HTTPNotFound()
    filters = parse_filters(request.query, tag=name)
    return await _river_view(request, filters, "tag.html", tag_name=name)


async def sources(request: web.Request) -> web.Response:
    locale = ui_locale(request)
    rows = failing_first(await in_thread(request, source_rows, request.app[STORE]))
    bluesky = await in_thread(request, bluesky_links, request.app[STORE], request.app[CONFIG])
    fetched = [r.state.last_fetch for r in rows if r.state and r.state.last_fetch]
    context = base_context(request, locale, rows=rows, sources_health=rows_health(rows), bluesky=bluesky,
                           status_words=STATUS_WORDS, plain_error=plain_error)
    return render_page(request, "sources.html", context, locale=locale, last_modified=max(fetched) if fetched else None)


async def source(request: web.Request) -> web.Response:
    slug = request.match_info["slug"]
    row = await in_thread(request, source_row, request.app[STORE], slug)
    if row is None:
        raise web.HTTPNotFound()
    filters = parse_filters(request.query, source=slug)
    return await _river_view(
        request, filters, "source.html", row=row, status_words=STATUS_WORDS, plain_error=plain_error
    )


async def search(request: web.Request) -> web.Response:
    locale = ui_locale(request)
    filters = parse_filters(request.query)
    sort = request.query.get("sort", "relevance")
    if sort not in ("relevance", "date"):
        raise BadRequest("sort: relevance or date")
    cursor = decode_cursor(request.query.get("cursor"))
    if isinstance(cursor, Cursor):
        raise BadRequest("cursor: not a position this site gave out")
    offset = cursor or 0
    limit = parse_limit(request.query, SEARCH_PAGE_SIZE, PAGE_MAX)
    page: Page | None = None
    status = 200
    if filters.q:
        page = await in_thread(request, search_page, request.app[STORE], request.app[INDEX], filters, offset, limit, sort)
        if page.error:
            status = 400
        elif page.unavailable:
            status = 503
    extra_query = {**filters.as_query(), "sort": sort if sort != "relevance" else None,
                   "limit": _limit_param(limit, SEARCH_PAGE_SIZE)}
    context = base_context(
        request, locale, filters=filters, page=page, sort=sort, offset=offset,
        feeds=feed_links(filters) if filters.q else None,
        older_url=("/search" + query_string(extra_query, cursor=page.next_cursor)) if page and page.next_cursor else None,
    )
    return render_page(request, "search.html", context, locale=locale, status=status)


@web.middleware
async def error_pages(request: web.Request, handler: Any) -> web.StreamResponse:
    """Readable error pages for people; feeds and the API answer in plain text or JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or request.path.startswith(("/api/", "/feed.", "/healthz", "/metrics", "/static/", "/embed")):
            raise
        locale = ui_locale(request)
        message = exc.message if isinstance(exc, BadRequest) else None
        context = base_context(request, locale, status=exc.status, message=message)
        return render_page(request, "error.html", context, locale=locale, status=exc.status)
    except AggregatorError as exc:
        # The database (or index) is unreachable, e.g. PostgreSQL restarting: say so and
        # ask to come back, never a stack trace. Known errors only; a bug still raises.
        log.warning("web.unavailable", path=request.path, error=str(exc))
        headers = {"Retry-After": "30", "Cache-Control": "no-store"}
        if request.path.startswith(("/api/", "/healthz")):
            return web.json_response({"error": "temporarily unavailable, try again shortly"}, status=503, headers=headers)
        if request.path.startswith(("/feed.", "/metrics", "/sources.opml", "/embed")):
            return web.Response(text="temporarily unavailable, try again shortly\n", status=503, headers=headers)
        try:
            locale = ui_locale(request)
            context = base_context(request, locale, status=503, message=None)
            return render_page(request, "error.html", context, locale=locale, status=503)
        except AggregatorError:
            return web.Response(
                text="Service momentanément indisponible / temporarily unavailable.\n", status=503, headers=headers
            )
