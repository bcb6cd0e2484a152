"""Pure post formatting for Mastodon and Bluesky: templates, limits, facets, language tags.

Nothing here does I/O. Both networks get the same template rendered into *segments*
(literal text, title, summary, the link, hashtags), so that shortening works on whole
fields and Bluesky's facets are computed from the segments' final positions instead of
being searched for in the text afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import regex

#: One user-perceived character (extended grapheme cluster).
GRAPHEME = regex.compile(r"\X")
#: What both networks' clients and servers take for a link in plain text.
URL_LIKE = re.compile(r"https?://\S+", re.IGNORECASE)
PLACEHOLDER = re.compile(r"\{(title|source|url|hashtags|summary)\}")
ELLIPSIS = "…"

#: Mastodon: 500 characters a status (instance configuration ``max_characters``).
MASTODON_LIMIT = 500
#: Mastodon replaces every URL by 23 characters when counting
#: (``configuration.statuses.characters_reserved_per_url``), however long the URL is.
MASTODON_URL_LENGTH = 23
#: Bluesky: ``app.bsky.feed.post#text`` is at most 300 graphemes AND 3000 UTF-8 bytes.
BLUESKY_GRAPHEMES = 300
BLUESKY_BYTES = 3000
#: Bluesky tag facets: at most 64 graphemes; keep well under.
MAX_TAG_LENGTH = 50
MAX_HASHTAGS = 6
#: Hashtags are dropped before a title is cut shorter than this (graphemes).
MIN_TITLE = 80


@dataclass(frozen=True)
class PostInput:
    """What a post is made of, taken from an entry and its source."""

    title: str
    url: str | None
    source: str = ""
    summary: str = ""
    hashtags: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True)
class Facet:
    """A Bluesky rich-text facet: a UTF-8 byte range of the text and what it means."""

    byte_start: int
    byte_end: int
    kind: str  # "link" or "tag"
    value: str  # the full URI, or the tag without '#'

    def as_record(self) -> dict[str, object]:
        """The ``app.bsky.richtext.facet`` JSON shape."""
        if self.kind == "link":
            feature: dict[str, object] = {"$type": "app.bsky.richtext.facet#link", "uri": self.value}
        else:
            feature = {"$type": "app.bsky.richtext.facet#tag", "tag": self.value}
        return {"index": {"byteStart": self.byte_start, "byteEnd": self.byte_end}, "features": [feature]}


@dataclass(frozen=True)
class Post:
    """A formatted post: the text, its facets (Bluesky) and its language tag."""

    text: str
    facets: tuple[Facet, ...] = ()
    language: str | None = None


@dataclass(frozen=True)
class _Seg:
    kind: str  # lit, title, summary, source, url, tag
    text: str
    value: str = ""  # the full URL of a url segment, the tag of a tag segment


# -- small pure helpers -----------------------------------------------------------------


def graphemes(text: str) -> list[str]:
    return GRAPHEME.findall(text)


def grapheme_length(text: str) -> int:
    return len(GRAPHEME.findall(text))


def one_line(text: str) -> str:
    """Collapse every run of whitespace (newlines too) to one space."""
    return " ".join(text.split())


def language_tag(language: str | None) -> str | None:
    """The primary language subtag ("fr-FR" -> "fr") both networks accept, or None."""
    if not language:
        return None
    primary = re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None


def hashtag(tag: str) -> str | None:
    """A tag as a hashtag body: letters, digits and '_' only ("gilets jaunes" -> "GiletsJaunes").

    Both networks end a hashtag at the first character that is not a word character, so
    anything else would silently cut the tag. All-digit tags are not hashtags anywhere.
    """
    parts = [p for p in regex.split(r"[^\w]+", tag.strip()) if p]
    if not parts:
        return None
    body = parts[0] if len(parts) == 1 else "".join(p[:1].upper() + p[1:] for p in parts)
    body = "".join(graphemes(body)[:MAX_TAG_LENGTH])
    return None if body.isdigit() else body


def hashtags(tags: Sequence[str], *, limit: int = MAX_HASHTAGS) -> tuple[str, ...]:
    """Normalized, de-duplicated (case-insensitively) hashtags, at most ``limit``."""
    out: dict[str, str] = {}
    for tag in tags:
        body = hashtag(tag)
        if body and body.casefold() not in out:
            out[body.casefold()] = body
    return tuple(out.values())[:limit]


def short_url(url: str) -> str:
    """The link text Bluesky's own app shows: host plus at most 13 characters of path.

    The facet keeps the full URI, so the link itself is never cut; only its label is.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return url
    path = "" if parts.path == "/" else parts.path
    path += ("?" + parts.query if parts.query else "") + ("#" + parts.fragment if parts.fragment else "")
    if len(path) > 15:
        return parts.netloc + path[:13] + "..."
    return parts.netloc + path


def truncate(text: str, max_graphemes: int) -> str:
    """Shorten to at most ``max_graphemes`` graphemes, ellipsis included.

    Cuts at the last space before the limit, so no word, URL or grapheme is ever split;
    a single word longer than the limit (CJK text has no spaces) is cut between graphemes,
    unless it is a URL, which is dropped whole.
    """
    gs = graphemes(text)
    if len(gs) <= max_graphemes:
        return text
    if max_graphemes < 2:
        return ""
    cut = gs[: max_graphemes - 1]
    if not gs[max_graphemes - 1].isspace():
        spaces = [i for i, g in enumerate(cut) if g.isspace()]
        if spaces:
            cut = cut[: spaces[-1]]  # drop the word the limit falls in
        else:
            # One long first word: cut between graphemes, but never inside a URL in it.
            found = URL_LIKE.search(text)
            if found and found.start() < len("".join(cut)):
                cut = graphemes(text[: found.start()])
    out = "".join(cut).rstrip().rstrip(",;:—–-").rstrip()
    return out + ELLIPSIS if out else ""


# -- rendering --------------------------------------------------------------------------


def _render(template: str, post: PostInput, title: str, summary: str, tags: Sequence[str], url_text: str) -> list[_Seg]:
    """Fill the template; unknown braces stay literal (templates are operator text, not code)."""
    segs: list[_Seg] = []
    pos = 0
    for m in PLACEHOLDER.finditer(template):
        segs.append(_Seg("lit", template[pos : m.start()]))
        name = m.group(1)
        if name == "url":
            if post.url:
                segs.append(_Seg("url", url_text, post.url))
        elif name == "hashtags":
            for i, tag in enumerate(tags):
                if i:
                    segs.append(_Seg("lit", " "))
                segs.append(_Seg("tag", "#" + tag, tag))
        elif name == "title":
            segs.append(_Seg("title", title))
        elif name == "summary":
            segs.append(_Seg("summary", summary))
        else:
            segs.append(_Seg("source", post.source))
        pos = m.end()
    segs.append(_Seg("lit", template[pos:]))
    return _tidy(segs)


def _tidy(segs: list[_Seg]) -> list[_Seg]:
    """Merge literals, collapse blank lines left by empty fields, trim the ends."""
    merged: list[_Seg] = []
    for seg in segs:
        if not seg.text:
            continue
        if seg.kind == "lit" and merged and merged[-1].kind == "lit":
            merged[-1] = _Seg("lit", merged[-1].text + seg.text)
        else:
            merged.append(seg)
    out: list[_Seg] = []
    for i, seg in enumerate(merged):
        if seg.kind != "lit":
            out.append(seg)
            continue
        text = re.sub(r"[ \t]*\n[ \t]*(?:\n[ \t]*)+", "\n\n", seg.text)
        if i == 0:
            text = text.lstrip()
        if i == len(merged) - 1:
            text = text.rstrip()
        if text:
            out.append(_Seg("lit", text))
    return out


def _text(segs: Sequence[_Seg]) -> str:
    return "".join(s.text for s in segs)


def _mastodon_length(segs: Sequence[_Seg]) -> int:
    total = 0
    for seg in segs:
        if seg.kind == "url":
            total += MASTODON_URL_LENGTH  # whatever its length, a link counts 23
            continue
        # A URL inside a title is counted by the server as 23 too; counting it as at
        # least 23 keeps short ones ("http://a.b") from overflowing.
        rest = seg.text
        for m in URL_LIKE.finditer(seg.text):
            total += max(MASTODON_URL_LENGTH, grapheme_length(m.group()))
        rest = URL_LIKE.sub("", rest)
        total += grapheme_length(rest)
    return total


def mastodon_length(text: str, url: str | None = None) -> int:
    """The length Mastodon counts for ``text`` (each URL 23), for tests and callers."""
    return _mastodon_length([_Seg("lit", text)]) if url is None else _mastodon_length(
        [_Seg("lit", part) if i % 2 == 0 else _Seg("url", url, url) for i, part in enumerate(text.split(url))]
    )


def _bluesky_fits(segs: Sequence[_Seg]) -> bool:
    text = _text(segs)
    return grapheme_length(text) <= BLUESKY_GRAPHEMES and len(text.encode("utf-8")) <= BLUESKY_BYTES


def _fit(
    template: str,
    post: PostInput,
    url_text: str,
    fits: Callable[[list[_Seg]], bool],
) -> list[_Seg]:
    """The fullest rendering that fits: shorten the summary, then drop hashtags, then shorten the title."""
    title = one_line(post.title)
    summary = one_line(post.summary)
    tags = list(post.hashtags)

    def build(t: str, s: str, tg: Sequence[str]) -> list[_Seg]:
        return _render(template, post, t, s, tg, url_text)

    segs = build(title, summary, tags)
    if fits(segs):
        return segs

    def longest(make: Callable[[str], list[_Seg]], text: str) -> str | None:
        # truncate() output grows with its limit, so the largest fitting limit is found by bisection.
        lo, hi, best = 0, grapheme_length(text), None
        while lo <= hi:
            mid = (lo + hi) // 2
            candidate = truncate(text, mid)
            if fits(make(candidate)):
                best, lo = candidate, mid + 1
            else:
                hi = mid - 1
        return best

    found = longest(lambda s: build(title, s, tags), summary)
    if found is not None:
        return build(title, found, tags)
    summary = ""
    # A title shortened to a readable length beats hashtags; hashtags beat a stub of a title.
    found = longest(lambda t: build(t, summary, tags), title)
    if found is not None and grapheme_length(found) >= min(MIN_TITLE, grapheme_length(title)):
        return build(found, summary, tags)
    while tags:
        tags.pop()
        if fits(build(title, summary, tags)):
            return build(title, summary, tags)
    found = longest(lambda t: build(t, summary, tags), title)
    if found is not None:
        return build(found, summary, tags)
    # An operator template whose literal text alone is too long: the link alone always fits.
    if post.url:
        return [_Seg("url", url_text, post.url)]
    return [_Seg("title", truncate(title, 100))]


def format_mastodon(post: PostInput, template: str) -> Post:
    """A Mastodon status of at most 500 characters, every URL counted as 23 and kept whole."""
    segs = _fit(template, post, post.url or "", lambda s: _mastodon_length(s) <= MASTODON_LIMIT)
    return Post(text=_text(segs), facets=(), language=language_tag(post.language))


def format_bluesky(post: PostInput, template: str) -> Post:
    """A Bluesky post of at most 300 graphemes with link and hashtag facets.

    The link is shown shortened the way Bluesky's app shows it; its facet carries the full
    URI. Facet offsets are UTF-8 byte offsets (atproto counts bytes, not characters).
    """
    url_text = short_url(post.url) if post.url else ""
    segs = _fit(template, post, url_text, _bluesky_fits)
    facets: list[Facet] = []
    offset = 0
    for seg in segs:
        size = len(seg.text.encode("utf-8"))
        if seg.kind == "url":
            facets.append(Facet(offset, offset + size, "link", seg.value))
        elif seg.kind == "tag":
            facets.append(Facet(offset, offset + size, "tag", seg.value))
        offset += size
    return Post(text=_text(segs), facets=tuple(facets), language=language_tag(post.language))
