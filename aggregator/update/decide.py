"""Decide, the pure step: what becomes of each incoming entry.

Decide alone says whether an entry is new, edited or unchanged, which story it belongs
to (``story_key``) and whether it is relay-worthy (a recent entry of a relayed source that
is not a reply). No I/O and no clock of its own: ``now`` is the fetch time handed in, so
the rules (future dates clamped, missing dates filled, deleted entries stay deleted, the
backlog window for relaying) are tested with plain data (tests/update/test_decide.py).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from ..model import Decision, EntryChange, EntryData, ExistingEntry
from ..parse.identity import canonical_url

#: Titles shorter than this are too generic ("Agenda", "Communiqué") to merge stories on.
MIN_STORY_TITLE_WORDS = 4

#: Why an item is not relay-worthy (``relay_refusal``): its source is not relayed, it is a
#: reply, or it was older than the backlog window when first seen.
RelayRefusal = Literal["source", "reply", "backlog"]


def story_key(entry: EntryData, source: str) -> str:
    """The key under which several sources' copies of one article become one story.

    Mutu sites republish each other's articles under their own URLs, so the title is the
    strongest signal; a fediverse post is always its own story.
    """
    if entry.kind != "article":
        return "n:" + _digest(entry.native_uri or f"{source}\n{entry.guid}")
    words = _title_words(entry.title)
    if len(words) >= MIN_STORY_TITLE_WORDS:
        return "t:" + _digest(" ".join(words))
    if entry.url:
        return "u:" + _digest(canonical_url(entry.url))
    return "g:" + _digest(f"{source}\n{entry.guid}")


def relay_refusal(
    *, kind: str, published: datetime, seen: datetime, relay: bool, backlog: timedelta
) -> RelayRefusal | None:
    """The relay-worthiness rule: None when an item should be relayed, else why not.

    Args:
        published: the item's (clamped) date.
        seen: when the item was first stored; the backlog window counts from there, so
            an item queued later (``relay --queue-recent``) is judged as the crawl that
            stored it would have judged it.
        relay: the source's ``relay`` setting.
    """
    if not relay:
        return "source"
    if kind == "reply":
        return "reply"
    if seen - published > backlog:
        return "backlog"
    return None


def decide(
    source: str,
    entries: Sequence[EntryData],
    existing: Mapping[str, ExistingEntry],
    *,
    now: datetime,
    relay: bool,
    backlog: timedelta,
) -> Decision:
    """Sort incoming entries into new and updated ones.

    Args:
        source: the source's slug (part of story keys for entries without a title).
        existing: stored entries of this source by GUID (only those GUIDs matter).
        relay: whether this source's new entries go to the relay outbox at all.
        backlog: a new entry published longer ago than this is stored but not relayed,
            so adding a source with a year of history does not flood followers.
    """
    new: list[EntryChange] = []
    updated: list[EntryChange] = []
    unchanged = 0
    seen: set[str] = set()
    for entry in entries:
        if entry.guid in seen:  # a feed that lists one item twice: the first wins
            continue
        seen.add(entry.guid)
        published = entry.published or entry.updated
        published = now if published is None or published > now else published
        old = existing.get(entry.guid)
        if old is None:
            refusal = relay_refusal(kind=entry.kind, published=published, seen=now, relay=relay, backlog=backlog)
            new.append(
                EntryChange(
                    entry=entry,
                    published=published,
                    story_key=story_key(entry, source),
                    relay=refusal is None,
                )
            )
        elif old.deleted or old.content_hash == entry.content_hash:
            unchanged += 1
        else:
            # A feed that drops the date on edit keeps the first date we knew.
            kept = published if (entry.published or entry.updated) else old.published
            updated.append(
                EntryChange(entry=entry, published=kept, story_key=story_key(entry, source), existing_id=old.id)
            )
    return Decision(new=tuple(new), updated=tuple(updated), unchanged=unchanged)


def _title_words(title: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", title.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.findall(r"\w+", folded)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]
