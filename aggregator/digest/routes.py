"""The newsletter's web pages, mounted on the readers' app by the factory (``setup``).

Routes (docs/web.md, docs/newsletter.md):

- ``/subscribe``: the form (``email``, repeated ``source``, ``tag``, ``lang``; ``locale``
  for the mails' language). Double opt-in: the answer is the same page whatever became of
  the address (new, pending, already subscribed), so the form tells no one who is
  subscribed.
- ``/confirm/{token}``, ``/reconfirm/{token}``, ``/unsubscribe/{token}``,
  ``/preferences/{token}``: a ``GET`` shows a page and never changes anything (mail
  scanners follow links); its ``<form method="post">`` acts. ``static/autosubmit.js``
  may press the confirm button for a person (see there); the pages work without it.
- ``POST /unsubscribe/{token}`` is also RFC 8058's one-click: mail providers post
  ``List-Unsubscribe=One-Click`` with no cookie, no session and no CSRF token, and none is
  needed: the token is the authority, and POST is never sent by a link scanner.
- ``/digest``, ``/digest/YYYY-MM-DD``, ``/digest.atom``, ``/digest.json``: the archive,
  one day, and the feeds (one entry per day), for people without e-mail
  (``archive_pages.py``; what the pages share is in ``pages_common.py``).

Hostile input gets a clear page and changes nothing: malformed or injected addresses,
bodies over ``FORM_LIMIT``, forged or expired tokens, and floods (``throttle``: 429 with
``Retry-After``). Pages about a token are ``Cache-Control: no-store`` and
``Referrer-Policy: no-referrer``: the token is a key and must stay in the address bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from .. import logs
from ..errors import AddressError, DigestError, MailError, TokenError
from ..model import ALL_STORIES, DigestFilters
from ..store.subscribers import Subscriber
from ..templating import LOCALES
from ..webapp.context import base_context, in_thread, ui_locale
from ..webapp.keys import DIRECTORY, RENDERER
from .archive import DigestArchive
from .archive_pages import archive_page, day_page, digest_atom, digest_json
from .links import subscriber_links
from .pages_common import ARCHIVE, DEPS, LIMITS, DigestDeps, day_label, newsletter_mode
from .subscriptions import Subscriptions, filters_from_form
from .throttle import BUTTONS, SUBSCRIBE, SUBSCRIBE_ALL, ClientLimits, client_key
from .tokens import Purpose

log = logs.get("aggregator.digest.web")

#: A form body past this is refused before it is read (a real one is a few kilobytes).
FORM_LIMIT = 32 * 1024
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")




def setup(app: web.Application, deps: DigestDeps, *, limits: ClientLimits | None = None) -> None:
    """Mount the pages on the readers' app and point its pages to the form."""
    app[DEPS] = deps
    app[ARCHIVE] = DigestArchive(deps.store, deps.config)
    app[LIMITS] = limits or ClientLimits({"subscribe": SUBSCRIBE, "buttons": BUTTONS},
                                         overall={"subscribe": SUBSCRIBE_ALL})
    for locale, env in app[RENDERER].envs.items():
        env.globals["newsletter_url"] = "/subscribe"  # base.html and the river link to the form
        env.filters["day_label"] = day_label(locale)
    r = app.router
    r.add_get("/subscribe", subscribe_form, name="digest_subscribe")
    r.add_post("/subscribe", subscribe_post)
    for purpose in ("confirm", "reconfirm", "unsubscribe"):
        r.add_get(f"/{purpose}/{{token}}", token_page, name=f"digest_{purpose}")
        r.add_post(f"/{purpose}/{{token}}", token_post)
    r.add_get("/preferences/{token}", preferences_page, name="digest_preferences")
    r.add_post("/preferences/{token}", preferences_post)
    r.add_get("/digest", archive_page, name="digest_archive")
    r.add_get("/digest/{day}", day_page, name="digest_day")
    r.add_get("/digest.atom", digest_atom, name="digest_atom")
    r.add_get("/digest.json", digest_json, name="digest_json")


# -- answering -----------------------------------------------------------------------------


def _private(request: web.Request, template: str, *, status: int = 200, headers: Mapping[str, str] | None = None,
             **context: Any) -> web.Response:
    """A page about one person or one request: never cached, never indexed. A page whose
    address holds a token sends no ``Referer`` from it (the token is a key); the form's own
    page keeps the site's policy, so browsers send the ``Origin`` that ``_same_origin``
    checks (under ``no-referrer`` they send ``Origin: null``)."""
    locale = ui_locale(request)
    body = request.app[RENDERER].render(locale, template, base_context(request, locale, **context))
    extra = {"Referrer-Policy": "no-referrer"} if "token" in request.match_info else {}
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8",
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex", **extra, **(headers or {})},
    )


def _problem(request: web.Request, problem: str, status: int, *, retry_after: float | None = None) -> web.Response:
    """A clear answer to bad input; ``problem`` is a code the template words."""
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    return _private(request, "digest/problem.html", status=status, headers=headers, problem=problem)


def _client(request: web.Request) -> str:
    return client_key(request.remote, request.headers.get("X-Forwarded-For"))


def _limited(request: web.Request, kind: str) -> web.Response | None:
    wait = request.app[LIMITS].check(kind, _client(request))
    if not wait:
        return None
    log.info("digest.rate_limited", kind=kind, path=request.path.split("/")[1])
    return _problem(request, "flood", 429, retry_after=wait)


class _FormTooLarge(Exception):
    pass


class _FormInvalid(Exception):
    pass


async def _read_form(request: web.Request) -> MultiDictProxy[str]:
    """The posted fields as text; bounded before anything is read.

    Raises:
        _FormTooLarge: over ``FORM_LIMIT`` (by Content-Length, or the app's own cap).
        _FormInvalid: not a form body.
    """
    if request.content_length is not None and request.content_length > FORM_LIMIT:
        raise _FormTooLarge()
    if request.content_type not in FORM_TYPES:
        raise _FormInvalid()
    try:
        raw = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise _FormTooLarge() from None
    except (ValueError, UnicodeDecodeError, AssertionError):
        raise _FormInvalid() from None
    return MultiDictProxy(_text_fields(raw))


def _text_fields(raw: Any) -> MultiDict[str]:
    """Text fields only: a file in a multipart body is dropped, never looked at."""
    return MultiDict((k, v) for k, v in raw.items() if isinstance(v, str))


def _same_origin(request: web.Request, deps: DigestDeps) -> bool:
    """Browsers send ``Origin`` with a form post: refuse other sites' forms (CSRF)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    ours = {f"{request.scheme}://{request.host}".lower()}
    if deps.base_url:
        parts = urlsplit(deps.base_url)
        ours.add(f"{parts.scheme}://{parts.netloc}".lower())
    return origin.lower() in ours


# -- choices: sources, tags, languages -------------------------------------------------------


@dataclass(frozen=True)
class Choices:
    sources: list[tuple[str, str]]  # (slug, name)
    tags: list[str]
    languages: list[str]


def _choices(request: web.Request, current: DigestFilters = ALL_STORIES) -> Choices:
    sources = request.app[DIRECTORY].by_slug()
    ordered = sorted(sources.values(), key=lambda s: (s.name.casefold(), s.slug))
    tags = sorted({t for s in ordered for t in s.tags} | set(current.tags))
    languages = sorted({s.language for s in ordered if s.language} | set(current.languages))
    return Choices([(s.slug, s.name) for s in ordered], tags, languages)


def _filters(request: web.Request, form: MultiDictProxy[str]) -> DigestFilters:
    """Raises DigestError for an unknown source, a bad language, too many choices."""
    return filters_from_form(form.getall("source", []), form.getall("tag", []), form.getall("lang", []),
                             known_sources=request.app[DIRECTORY].by_slug())


def _mail_locale(request: web.Request, form: Mapping[str, str]) -> str:
    chosen = form.get("locale")
    return chosen if chosen in LOCALES else ui_locale(request)


# -- /subscribe --------------------------------------------------------------------------------


def _subscribe_page(request: web.Request, *, status: int = 200, error: str | None = None, detail: str | None = None,
                    email: str = "", filters: DigestFilters = ALL_STORIES, locale: str | None = None) -> web.Response:
    deps = request.app[DEPS]
    return _private(
        request, "digest/subscribe.html", status=status, mode=newsletter_mode(deps), list_address=deps.config.list_address,
        choices=_choices(request, filters), chosen=filters, email=email, error=error, detail=detail,
        mail_locale=locale or ui_locale(request), send_at=deps.config.send_at.strftime("%H:%M"),
        timezone=deps.config.timezone,
    )


async def subscribe_form(request: web.Request) -> web.Response:
    return _subscribe_page(request)


async def subscribe_post(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    mode = newsletter_mode(deps)
    if mode == "list":
        return _subscribe_page(request, status=400, error="list_mode")
    if mode == "closed":
        return _subscribe_page(request, status=503, error="closed")
    if not _same_origin(request, deps):
        return _problem(request, "foreign_form", 403)
    if (limited := _limited(request, "subscribe")) is not None:
        return limited
    try:
        form = await _read_form(request)
    except _FormTooLarge:
        return _problem(request, "too_large", 413)
    except _FormInvalid:
        return _subscribe_page(request, status=400, error="not_a_form")
    emails = form.getall("email", [])
    typed = emails[0] if len(emails) == 1 else ""
    shown = typed if len(typed) <= 320 and typed.isprintable() else ""
    locale = _mail_locale(request, form)
    try:
        filters = _filters(request, form)
    except DigestError as exc:
        return _subscribe_page(request, status=400, error="choices", detail=str(exc), email=shown, locale=locale)
    if len(emails) != 1:
        return _subscribe_page(request, status=400, error="one_address", filters=filters, locale=locale)
    try:
        outcome = await deps.subscriptions.subscribe(typed, filters, locale)
    except AddressError as exc:
        log.info("digest.subscribe_refused", reason=exc.reason)
        return _subscribe_page(request, status=400, error=f"address_{exc.reason}", email=shown, filters=filters,
                               locale=locale)
    except MailError as exc:
        log.warning("digest.confirmation_failed", error=str(exc), kind=exc.kind)
        if exc.kind == "refused":  # the address's own server says it does not exist
            return _subscribe_page(request, status=400, error="address_refused", email=shown, filters=filters,
                                   locale=locale)
        return _subscribe_page(request, status=503, error="mail_failed", email=shown, filters=filters, locale=locale)
    except DigestError as exc:
        return _subscribe_page(request, status=400, error="choices", detail=str(exc), email=shown, locale=locale)
    log.info("digest.subscribe_request", status=outcome.status)
    # The same answer whatever happened: the form must not tell who is subscribed.
    return _private(request, "digest/check_mail.html")


# -- links from mails: confirm, reconfirm, unsubscribe -------------------------------------------


def _token_purpose(request: web.Request) -> Purpose:
    purpose = request.path.split("/")[1]
    assert purpose in ("confirm", "reconfirm", "unsubscribe", "preferences"), purpose
    return purpose  # type: ignore[return-value]


def _flows(request: web.Request) -> Subscriptions:
    return request.app[DEPS].subscriptions


async def _peek(request: web.Request, purpose: Purpose) -> Subscriber | web.Response:
    """The subscriber behind the link, or the page that says the link is no good."""
    flows = _flows(request)
    try:
        return await in_thread(request, flows.peek, purpose, request.match_info["token"])
    except TokenError as exc:
        if purpose == "unsubscribe" and exc.reason == "forged" and await _gone(request):
            return _private(request, "digest/action.html", purpose=purpose, done=True)
        log.info("digest.bad_token", purpose=purpose, reason=exc.reason)
        return _problem(request, "bad_link", 400)


async def _gone(request: web.Request) -> bool:
    """The token's subscriber row no longer exists (already unsubscribed)."""
    flows = _flows(request)
    subject = flows.keyring.subject_of(request.match_info["token"])
    if subject is None or not subject.isdigit():
        return False
    return await in_thread(request, flows.store.subscribers.get, int(subject)) is None


async def token_page(request: web.Request) -> web.Response:
    """GET: look, never act."""
    purpose = _token_purpose(request)
    found = await _peek(request, purpose)
    if isinstance(found, web.Response):
        return found
    already = purpose == "confirm" and found.state == "confirmed"
    return _private(request, "digest/action.html", purpose=purpose, done=already, token=request.match_info["token"],
                    autosubmit=purpose in ("confirm", "reconfirm") and not already)


async def token_post(request: web.Request) -> web.Response:
    """POST: the button, or the RFC 8058 one-click (no cookie, no session, no CSRF token:
    the body is not even needed; a body too large is refused before it is read)."""
    purpose = _token_purpose(request)
    if request.content_length is not None and request.content_length > FORM_LIMIT:
        return _problem(request, "too_large", 413)
    if (limited := _limited(request, "buttons")) is not None:
        return limited
    flows = _flows(request)
    token = request.match_info["token"]
    try:
        if purpose == "unsubscribe":
            await in_thread(request, flows.unsubscribe, token)
            return _private(request, "digest/action.html", purpose=purpose, done=True)
        if purpose == "confirm":
            row = await in_thread(request, flows.confirm, token)
        else:
            row = await in_thread(request, flows.reconfirm, token)
    except TokenError as exc:
        log.info("digest.bad_token", purpose=purpose, reason=exc.reason)
        return _problem(request, "bad_link", 400)
    prefs = subscriber_links(flows.settings.base_url, flows.keyring, row.id, row.salt).preferences_url
    return _private(request, "digest/action.html", purpose=purpose, done=True,
                    preferences_path=urlsplit(prefs).path)


# -- /preferences --------------------------------------------------------------------------------


def _preferences(request: web.Request, row: Subscriber, *, status: int = 200, saved: bool = False,
                 error: str | None = None, detail: str | None = None) -> web.Response:
    flows = _flows(request)
    unsubscribe = subscriber_links(flows.settings.base_url, flows.keyring, row.id, row.salt).unsubscribe_url
    return _private(request, "digest/preferences.html", status=status, choices=_choices(request, row.filters),
                    chosen=row.filters, mail_locale=row.locale, masked=mask(row.address), saved=saved, error=error,
                    detail=detail, token=request.match_info["token"], unsubscribe_path=urlsplit(unsubscribe).path)


async def preferences_page(request: web.Request) -> web.Response:
    found = await _peek(request, "preferences")
    return found if isinstance(found, web.Response) else _preferences(request, found)


async def preferences_post(request: web.Request) -> web.Response:
    if (limited := _limited(request, "buttons")) is not None:
        return limited
    found = await _peek(request, "preferences")
    if isinstance(found, web.Response):
        return found
    flows = _flows(request)
    try:
        form = await _read_form(request)
    except _FormTooLarge:
        return _problem(request, "too_large", 413)
    except _FormInvalid:
        return _preferences(request, found, status=400, error="not_a_form")
    try:
        filters = _filters(request, form)
    except DigestError as exc:
        return _preferences(request, found, status=400, error="choices", detail=str(exc))
    try:
        await in_thread(request, flows.update_filters, request.match_info["token"], filters,
                        _mail_locale(request, form))
    except TokenError:
        return _problem(request, "bad_link", 400)
    row = await in_thread(request, flows.store.subscribers.get, found.id)
    if row is None:
        return _problem(request, "bad_link", 400)
    return _preferences(request, row, saved=True)


def mask(address: str) -> str:
    """``c•••e@example.org``: enough for a person to recognise their address on a page
    that a forwarded mail's reader could also open."""
    local, _, domain = address.rpartition("@")
    if len(local) <= 2:
        return f"{local[:1]}•••@{domain}"
    return f"{local[0]}•••{local[-1]}@{domain}"
