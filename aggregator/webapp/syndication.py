"""Other sites relaying the network: the ``/embed`` block and the ``/share`` ("relay us") page.

Both only read. ``/embed`` is a small page of the latest stories meant for an ``<iframe>``
on another site: no script (unless ``autoheight=1`` asks for one static file), no cookie,
nothing fetched from any other origin, framable by anyone (``http.py`` gives it its own
headers). ``/share`` helps a webmaster pick filters and copy the three ways of relaying:
the RSS feed, a loop for SPIP's own syndication, and the iframe. The snippets carry the
site's public address (``AGGREGATOR_BASE_URL``); without it they show a placeholder and
the page tells the operator what to set, rather than guessing an address from the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from aiohttp import web

from .api import load_page
from .context import HTML, base_context, render_page, ui_locale
from .health_words import N_
from .http import conditional
from .keys import DIRECTORY, PUBLIC_URLS, RENDERER
from .pages import page_last_modified
from .params import BadRequest, Filters, parse_filters, parse_limit
from .render import query_string

EMBED_SIZE = 10
EMBED_MAX = 50
#: An embedded block is fetched by every reader of the host page: let caches keep it.
EMBED_MAX_AGE = 300
THEMES = ("auto", "light", "dark")
#: What the snippets show when the operator has not said where the site lives.
PLACEHOLDER_BASE = "https://aggregator.example"
#: How many digits a SPIP site number may have in the loop snippet (``id_syndic``).
SPIP_ID_DIGITS = 9
SPIP_ID_PLACEHOLDER = "XX"


def _theme(request: web.Request) -> str:
    theme = request.query.get("theme", "auto")
    if theme not in THEMES:
        raise BadRequest("theme: auto, light or dark")
    return theme


def _view_query(filters: Filters, limit: int, theme: str) -> dict[str, str | None]:
    """The query string of an embed (or feed) with these choices; defaults left out."""
    return {**filters.as_query(), "limit": str(limit) if limit != EMBED_SIZE else None,
            "theme": theme if theme != "auto" else None}


def _river_path(filters: Filters) -> str:
    """The aggregator's own page of the same view (the block's "more" link)."""
    if filters.q:
        return "/search" + query_string(filters.as_query())
    rest = {k: v for k, v in filters.as_query().items() if k not in ("source", "tag")}
    if filters.source:
        return f"/sources/{filters.source}" + query_string(rest, tag=filters.tag)
    if filters.tag:
        return f"/tags/{filters.tag}" + query_string(rest)
    return "/" + query_string(rest)


async def embed(request: web.Request) -> web.Response:
    """The latest stories of a view as a small HTML page for an iframe (or a server-side include).

    Links are absolute when the site's address is configured, so the block also works
    when included into another page's HTML; otherwise relative to this site.
    """
    filters = parse_filters(request.query)
    limit = parse_limit(request.query, EMBED_SIZE, EMBED_MAX)
    theme = _theme(request)
    autoheight = request.query.get("autoheight") == "1"
    locale = ui_locale(request)
    page = await load_page(request, filters, limit)
    renderer = request.app[RENDERER]
    urls = request.app[PUBLIC_URLS]
    base = urls.base_url or ""
    context = {
        "items": page.items,
        "sources": request.app[DIRECTORY].by_slug(),
        "theme": theme,
        "autoheight": autoheight,
        "base": base,
        "more_url": urls.link(_river_path(filters)),
        "static": (lambda name: base + renderer.static_url(name)),
    }
    body = renderer.render(locale, "embed.html", context).encode()
    # No cookie is ever set here, even for ?ui= (render_page would remember it).
    return conditional(request, body, HTML, max_age=EMBED_MAX_AGE, last_modified=page_last_modified(page),
                       vary="Accept-Language")


@dataclass(frozen=True)
class Snippets:
    """What a webmaster copies from ``/share``."""

    feed_url: str
    atom_url: str
    embed_url: str
    iframe: str
    spip_loop: str


def spip_loop(site_id: str, heading: str, limit: int) -> str:
    """A loop for SPIP's syndication (``SYNDIC_ARTICLES``) of our RSS feed.

    Every tag it uses is a field SPIP fills from our RSS (see ``feeds.rss``): ``#URL_ARTICLE``
    (``<link>``), ``#TITRE``, ``#SOURCE`` (``<source>``), ``#DATE`` (``<pubDate>``).
    """
    return (
        "<B_reseau>\n"
        '<section class="lire-ailleurs">\n'
        f"<h2>{escape(heading)}</h2>\n"
        "<ul>\n"
        f"<BOUCLE_reseau(SYNDIC_ARTICLES){{id_syndic={site_id}}}{{par date}}{{inverse}}{{0,{limit}}}>\n"
        '\t<li><a href="#URL_ARTICLE">#TITRE</a>[ — (#SOURCE)][, (#DATE|affdate)]</li>\n'
        "</BOUCLE_reseau>\n"
        "</ul>\n"
        "</section>\n"
        "</B_reseau>\n"
    )


def snippets(base: str, filters: Filters, limit: int, theme: str, *, title: str, heading: str, site_id: str) -> Snippets:
    feed_query = {**filters.as_query(), "limit": str(limit) if limit != EMBED_SIZE else None}
    embed_url = base + "/embed" + query_string(_view_query(filters, limit, theme))
    iframe = (
        f'<iframe src="{escape(embed_url)}" title="{escape(title)}" width="100%" height="520" loading="lazy" '
        'referrerpolicy="no-referrer" sandbox="allow-popups allow-popups-to-escape-sandbox"></iframe>'
    )
    return Snippets(
        feed_url=base + "/feed.rss" + query_string(feed_query),
        atom_url=base + "/feed.atom" + query_string(feed_query),
        embed_url=embed_url,
        iframe=iframe,
        spip_loop=spip_loop(site_id, heading, limit),
    )


async def share(request: web.Request) -> web.Response:
    """The "relay us" page: a GET form of choices, a preview, and the three snippets."""
    locale = ui_locale(request)
    filters = parse_filters(request.query)
    limit = parse_limit(request.query, EMBED_SIZE, EMBED_MAX)
    theme = _theme(request)
    site_id = (request.query.get("spip_id") or "").strip()
    if site_id and not (site_id.isascii() and site_id.isdigit() and len(site_id) <= SPIP_ID_DIGITS):
        raise BadRequest("spip_id: the number SPIP gave the site (digits only)")
    renderer = request.app[RENDERER]
    configured = request.app[PUBLIC_URLS].base_url
    shown = snippets(
        configured or PLACEHOLDER_BASE, filters, limit, theme,
        title=renderer.gettext(locale, N_("Elsewhere in the network")),
        heading=renderer.gettext(locale, N_("Elsewhere in the network")),
        site_id=site_id or SPIP_ID_PLACEHOLDER,
    )
    context = base_context(
        request, locale, filters=filters, limit=limit, theme=theme, themes=THEMES, spip_id=site_id,
        snippets=shown, configured=configured is not None, placeholder=PLACEHOLDER_BASE,
        # The preview is this site's own page, so a relative address works whatever the base.
        preview_src="/embed" + query_string(_view_query(filters, limit, theme)),
        embed_max=EMBED_MAX,
    )
    return render_page(request, "share.html", context, locale=locale)
