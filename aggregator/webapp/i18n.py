"""The readers' language: French first, English on request; gettext catalogues from ``web/``.

The interface language is chosen by ``?ui=`` (which also sets a cookie), then the cookie,
then ``Accept-Language``, then French. ``lang`` is *not* used for it: in the routes (docs/web.md)
``lang`` filters the content by the articles' language.
"""

from __future__ import annotations

import re

from ..templating import DEFAULT_LOCALE, LOCALES

__all__ = ["DEFAULT_LOCALE", "LOCALES", "negotiate", "parse_accept_language"]

UI_PARAM = "ui"
UI_COOKIE = "ui"

_ACCEPT_ITEM = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*$")


def parse_accept_language(header: str | None) -> list[str]:
    """Primary language tags by decreasing preference (bounded: headers are hostile input)."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header[:1000].split(",")[:30]):
        match = _ACCEPT_ITEM.match(item)
        if not match:
            continue
        try:
            q = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        if q <= 0:
            continue
        weighted.append((-q, position, match.group(1).split("-")[0].lower()))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(param: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The interface locale for one request."""
    for choice in (param, cookie):
        if choice in LOCALES:
            return choice
    for tag in parse_accept_language(accept_language):
        if tag in LOCALES:
            return tag
        if tag == "*":
            break
    return DEFAULT_LOCALE
