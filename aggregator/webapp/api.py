"""Machine-facing routes: Atom, RSS and JSON feeds of every view, OPML, JSON API, health, metrics."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..shapes import api_item_json, api_source_json
from ..sources import sources_to_opml
from .context import in_thread, ui_locale
from .data import Page, health, metrics_figures, river_page, search_page, source_rows
from .feeds import FeedMeta, atom, json_feed, rss, source_path
from .health_words import N_
from .http import conditional, json_bytes
from .keys import CLOCK, DIRECTORY, INDEX, METRICS, PUBLIC_URLS, RENDERER, STORE
from .metrics import render_store_metrics
from .pages import page_last_modified
from .params import BadRequest, Filters, decode_cursor, parse_filters, parse_limit
from .render import path_segment, query_string

FEED_SIZE = 50
FEED_MAX = 200  # ``limit=`` on feeds: 1 to this
FEED_MAX_AGE = 300  # feed readers poll; five minutes matches the crawl's shortest interval
API_MAX_AGE = 60
JSON = "application/json; charset=utf-8"


async def load_page(request: web.Request, filters: Filters, limit: int) -> Page:
    """A page of a view: search (by date) when ``q`` is set, the river otherwise."""
    cursor = decode_cursor(request.query.get("cursor"))
    if filters.q:
        if cursor is not None and not isinstance(cursor, int):
            raise BadRequest("cursor: not a position this site gave out")
        page = await in_thread(request, search_page, request.app[STORE], request.app[INDEX], filters, cursor or 0, limit, "date")
        if page.unavailable:
            raise web.HTTPServiceUnavailable(text="search is not available on this server")
        if page.error:
            raise BadRequest(page.error)
        return page
    if isinstance(cursor, int):
        raise BadRequest("cursor: not a position this site gave out")
    return await in_thread(request, river_page, request.app[STORE], filters, cursor, limit)


def _html_path(filters: Filters) -> str:
    """The page showing the same view as a feed."""
    if filters.q:
        return "/search" + query_string(filters.as_query())
    rest = {k: v for k, v in filters.as_query().items() if k not in ("source", "tag")}
    if filters.source:
        return source_path(filters.source) + query_string(rest, tag=filters.tag)
    if filters.tag:
        return f"/tags/{path_segment(filters.tag)}" + query_string(rest)
    return "/" + query_string(rest)


def _title(request: web.Request, filters: Filters) -> str:
    locale = ui_locale(request)
    renderer = request.app[RENDERER]
    parts = [renderer.gettext(locale, N_("Independent media"))]
    if filters.source:
        config = request.app[DIRECTORY].by_slug().get(filters.source)
        parts.append(config.name if config else filters.source)
    if filters.tag:
        parts.append("#" + filters.tag)
    if filters.lang:
        parts.append(filters.lang)
    if filters.q:
        parts.append(renderer.gettext(locale, N_("search: %(query)s")) % {"query": filters.q})
    return " — ".join(parts)


async def _feed(request: web.Request, kind: str) -> web.Response:
    filters = parse_filters(request.query)
    limit = parse_limit(request.query, FEED_SIZE, FEED_MAX)
    page = await load_page(request, filters, limit)
    entries = [item.entry for item in page.items]
    lm = page_last_modified(page)
    cursor = request.query.get("cursor")
    path = {"atom": "/feed.atom", "json": "/feed.json", "rss": "/feed.rss"}[kind]
    query = {**filters.as_query(), "limit": str(limit) if limit != FEED_SIZE else None}
    meta = FeedMeta(
        title=_title(request, filters),
        self_path=path + query_string(query, cursor=cursor),
        html_path=_html_path(filters),
        id_path=path + query_string(query),
        updated=max((max(e.published, e.updated or e.published) for e in entries), default=request.app[CLOCK]()),
        next_path=(path + query_string(query, cursor=page.next_cursor)) if page.next_cursor else None,
        language=filters.lang,
    )
    sources = request.app[DIRECTORY].by_slug()
    urls = request.app[PUBLIC_URLS]
    if kind == "atom":
        body, ctype = atom(meta, entries, sources, urls), "application/atom+xml; charset=utf-8"
    elif kind == "rss":
        body, ctype = rss(meta, entries, sources, urls), "application/rss+xml; charset=utf-8"
    else:
        body, ctype = json_feed(meta, entries, sources, urls), "application/feed+json; charset=utf-8"
    return conditional(request, body, ctype, max_age=FEED_MAX_AGE, last_modified=lm, vary="Accept-Language")


async def feed_atom(request: web.Request) -> web.Response:
    return await _feed(request, "atom")


async def feed_json(request: web.Request) -> web.Response:
    return await _feed(request, "json")


async def feed_rss(request: web.Request) -> web.Response:
    return await _feed(request, "rss")


def _json(request: web.Request, data: Any, *, max_age: int = API_MAX_AGE) -> web.Response:
    return conditional(request, json_bytes(data), JSON, max_age=max_age)


def json_error(message: str, status: int = 400) -> web.Response:
    return web.Response(body=json_bytes({"error": message}), status=status, content_type="application/json")


async def api_items(request: web.Request) -> web.Response:
    try:
        filters = parse_filters(request.query)
        limit = parse_limit(request.query, 50, 200)
        page = await load_page(request, filters, limit)
    except BadRequest as exc:
        return json_error(exc.message)
    next_url = None
    if page.next_cursor:
        next_url = request.app[PUBLIC_URLS].link("/api/items" + query_string(
            {**filters.as_query(), "limit": request.query.get("limit")}, cursor=page.next_cursor
        ))
    data: dict[str, Any] = {
        "items": [api_item_json(i.entry, i.also, page.snippets.get(i.entry.id) if filters.q else None) for i in page.items],
        "next_cursor": page.next_cursor,
        "next": next_url,
    }
    if page.total is not None:
        data["total"] = page.total
        if page.total_capped:
            data["total_capped"] = True  # "total" is a lower bound: more matches than that
    return _json(request, data)


async def api_sources(request: web.Request) -> web.Response:
    rows = await in_thread(request, source_rows, request.app[STORE])
    out = [api_source_json(row.config, row.state) for row in rows]
    return _json(request, {"sources": out})


async def opml(request: web.Request) -> web.Response:
    configs = list(request.app[DIRECTORY].by_slug().values())
    title = request.app[RENDERER].gettext(ui_locale(request), "Independent media")
    body = sources_to_opml(configs, title=title).encode()
    return conditional(request, body, "text/x-opml; charset=utf-8", max_age=3600)


async def healthz(request: web.Request) -> web.Response:
    state = await in_thread(request, health, request.app[STORE], request.app[INDEX])
    ok = state["database"] and state["index"] is not False
    body = {"status": "ok" if ok else "unavailable", **state}
    return web.json_response(body, status=200 if ok else 503, headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    by_status, items, outbox = await in_thread(request, metrics_figures, request.app[STORE])
    lines = render_store_metrics(by_status, items, outbox) + request.app[METRICS].render_requests()
    return web.Response(
        body=("\n".join(lines) + "\n").encode(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"},
    )
