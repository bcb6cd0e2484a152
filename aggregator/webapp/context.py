"""Per-request facts every page needs: interface locale, links, rendering, reader threads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web

from .http import conditional
from .i18n import UI_COOKIE, UI_PARAM, negotiate
from .keys import CLOCK, DIRECTORY, EXECUTOR, RENDERER
from .render import query_string

T = TypeVar("T")
HTML = "text/html; charset=utf-8"
#: Pages change as often as sources publish; a minute keeps repeat visits cheap.
PAGE_MAX_AGE = 60


def ui_locale(request: web.Request) -> str:
    return negotiate(
        request.query.get(UI_PARAM), request.cookies.get(UI_COOKIE), request.headers.get("Accept-Language")
    )


async def in_thread(request: web.Request, fn: Callable[..., T], *args: Any) -> T:
    """Run a store (or index) read off the event loop, in the app's reader threads."""
    return await asyncio.get_running_loop().run_in_executor(request.app[EXECUTOR], fn, *args)


def link_path(request: web.Request) -> str:
    """This request's path as a link on its own page: percent-encoded as received, and never
    ``//host/…`` (a protocol-relative URL would send the reader to another site)."""
    return "/" + request.rel_url.raw_path.lstrip("/")


def base_context(request: web.Request, locale: str, **extra: Any) -> dict[str, Any]:
    query = {k: v for k, v in request.query.items() if k != UI_PARAM}
    path = link_path(request)
    return {
        "path": path,
        "current_query": query,
        "ui_links": {loc: path + query_string(query, **{UI_PARAM: loc}) for loc in ("fr", "en")},
        "sources": request.app[DIRECTORY].by_slug(),
        "source_options": request.app[DIRECTORY].source_options,
        "source_languages": request.app[DIRECTORY].languages,
        "now": request.app[CLOCK](),
        "feeds": None,
        **extra,
    }


def render_page(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    *,
    locale: str,
    last_modified: datetime | None = None,
    status: int = 200,
) -> web.Response:
    """Render, then answer with caching headers (or 304) and remember a ``?ui=`` choice."""
    body = request.app[RENDERER].render(locale, template, context).encode()
    chosen = request.query.get(UI_PARAM)
    response = conditional(
        request, body, "text/html; charset=utf-8", max_age=PAGE_MAX_AGE, last_modified=last_modified,
        vary="Accept-Language, Cookie", private=chosen is not None, status=status,
    )
    if chosen in ("fr", "en"):
        response.set_cookie(UI_COOKIE, chosen, max_age=365 * 86400, path="/", samesite="Lax", httponly=True)
    return response
