"""Reader-supplied query parameters, validated and bounded (hostile input is normal)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from multidict import MultiMapping

from ..store import Cursor

_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: What this site's cursors look like once decoded: ``k<microseconds>.<entry id>`` or ``o<offset>``.
_KEYSET = re.compile(r"^k(-?[0-9]{1,18})\.([0-9]{1,19})$")
_OFFSET = re.compile(r"^o([0-9]{1,5})$")
#: Entry ids are 64-bit signed integers in both databases; a larger one is no position of ours.
MAX_ID = 2**63 - 1
MAX_QUERY = 500
MAX_TAG = 200
MAX_SLUG = 200
#: ``exclude=`` names at most this many sources: a site leaves out its own, or a few.
MAX_EXCLUDED = 50


class BadRequest(web.HTTPBadRequest):
    """A parameter the reader can fix; the message is shown to them."""

    def __init__(self, message: str):
        super().__init__(text=message)
        self.message = message


@dataclass(frozen=True)
class Filters:
    """The filters every view and feed accepts (docs/web.md, routes: source, tag, lang, q, exclude).

    ``exclude`` leaves sources out (a site showing the network without its own articles):
    their entries disappear, and a story they share with other sources shows through a
    copy of one of those (see ``EntryRepo.newest``).
    """

    source: str | None = None
    tag: str | None = None
    lang: str | None = None
    q: str | None = None
    exclude: tuple[str, ...] = ()

    def as_query(self) -> dict[str, str]:
        pairs = (("source", self.source), ("tag", self.tag), ("lang", self.lang), ("q", self.q),
                 ("exclude", ",".join(self.exclude)))
        return {k: v for k, v in pairs if v}


def _one(query: MultiMapping[str], name: str, limit: int) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    value = " ".join(value.split())
    if len(value) > limit:
        raise BadRequest(f"{name}: too long (at most {limit} characters)")
    return value or None


def parse_filters(query: MultiMapping[str], *, source: str | None = None, tag: str | None = None) -> Filters:
    """Filters from the query string; a path parameter (``/sources/x``) wins over ``?source=``."""
    lang = _one(query, "lang", 20)
    if lang is not None:
        lang = lang.lower()
        if not _LANG.match(lang):
            raise BadRequest("lang: expected a language code such as fr or en")
    return Filters(
        source=source or _one(query, "source", MAX_SLUG),
        tag=(tag or _one(query, "tag", MAX_TAG) or "").lower() or None,
        lang=lang,
        q=_one(query, "q", MAX_QUERY),
        exclude=parse_exclude(query),
    )


def parse_exclude(query: MultiMapping[str]) -> tuple[str, ...]:
    """``exclude=a,b`` (or ``exclude=a&exclude=b``, what a form of checkboxes sends): slugs, sorted.

    Sorted and without duplicates, so two spellings of one view give one feed URL (and one
    link to share). Unknown slugs are kept: they exclude nothing, like an unknown ``source``.
    """
    slugs: set[str] = set()
    for value in query.getall("exclude", ()):
        for part in value.split(","):
            slug = part.strip()
            if not slug:
                continue
            if len(slug) > MAX_SLUG or any(c.isspace() for c in slug):
                raise BadRequest("exclude: expected source identifiers separated by commas")
            slugs.add(slug)
    if len(slugs) > MAX_EXCLUDED:
        raise BadRequest(f"exclude: at most {MAX_EXCLUDED} sources")
    return tuple(sorted(slugs))


def parse_limit(query: MultiMapping[str], default: int, maximum: int) -> int:
    raw = query.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("limit: expected a whole number") from None
    if not 1 <= value <= maximum:
        raise BadRequest(f"limit: between 1 and {maximum}")
    return value


# -- opaque cursors -----------------------------------------------------------------------
# "k<microseconds>.<id>" is a keyset position in the river; "o<offset>" a position in
# search results (the index pages by offset; SQL never does).


def encode_keyset(published: datetime, entry_id: int) -> str:
    micros = (published.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)
    return _b64(f"k{micros}.{entry_id}")


def encode_offset(offset: int) -> str:
    return _b64(f"o{offset}")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(raw: str | None) -> Cursor | int | None:
    """A keyset ``Cursor``, a search offset (int), or None for the first page.

    Raises:
        BadRequest: anything this site could not have handed out: malformed, or numbers
            beyond what the databases hold (an id past 64 bits overflowed SQLite).
    """
    if not raw:
        return None
    try:
        if len(raw) > 100:
            raise ValueError
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
        keyset, offset = _KEYSET.match(text), _OFFSET.match(text)
        if keyset and int(keyset.group(2)) <= MAX_ID:
            published = _EPOCH + timedelta(microseconds=int(keyset.group(1)))  # OverflowError past year 9999
            return Cursor(published=published, id=int(keyset.group(2)))
        if offset and int(offset.group(1)) <= 10_000:
            return int(offset.group(1))
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        pass
    raise BadRequest("cursor: not a position this site gave out")
