"""The ActivityPub relay target: each relayed story becomes an activity of our actor.

An outbox row of target ``activitypub`` is not a post on somebody else's server: it is
*published* (``Store.ap_deliveries.publish``: the activity kept as sent, one delivery row per
follower inbox, shared inboxes collapsing a server's followers) and the fan-out
(``activitypub/delivery.py``) delivers it, with its own retries per inbox. What the row
becomes depends on what was published before for the story, so that the row can stand for
"bring the followers up to date" and be re-armed by the write path:

* nothing yet: ``Create(Note)``, or ``Announce`` of a source's own fediverse post (boosted,
  never copied);
* a Note was published and the entry changed since: ``Update(Note)`` (the write path puts
  the row back to ``pending`` on every edit, ``EntryRepo.save(synced=...)``);
* the entry was deleted: ``Delete(Tombstone)``, or ``Undo(Announce)`` (``mark_deleted``
  re-arms a row that had published something).

Publishing is a local transaction and idempotent (activity ids are stable), so the relay's
exactly-once discipline holds here without any remote look-up: ``find`` only notices that
what the row asks for is already published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from .. import logs
from ..activitypub import activities
from ..activitypub.activities import NoteInput
from ..activitypub.documents import Document, Urls
from ..model import Clock, RelayConfig, SourceConfig, StoredEntry, utcnow
from .plan import ACTIVITYPUB, Job, plan
from .targets import Delivered

log = logs.get("aggregator.relay.activitypub")

#: What a Note is compared on to tell an edit that shows from one that does not.
_NOTE_FIELDS = ("content", "url", "tag", "contentMap")


class PublishedActivity(Protocol):
    @property
    def activity_id(self) -> str: ...
    @property
    def kind(self) -> str: ...


class ActivityLog(Protocol):
    """``Store.ap_deliveries``: what our actor published, and the queue of its deliveries."""

    def publish(self, *, local_actor: str, activity: Mapping[str, Any], entry_id: int | None = None,
                public: bool = True, inboxes: Sequence[str] = (),
                not_before: Mapping[str, datetime] | None = None) -> int: ...

    def published(self, entry_id: int, *, local_actor: str | None = None) -> Sequence[PublishedActivity]: ...

    def activity(self, activity_id: str) -> dict[str, Any] | None: ...


class FollowerInboxes(Protocol):
    """``Store.ap_followers``."""

    def delivery_inboxes(self, local_actor: str) -> list[str]: ...


Spread = Callable[[Sequence[str], datetime], Mapping[str, datetime]]


def note_input(job: Job) -> NoteInput:
    """The Note of a "post" job: the relay's rendered text, the link, the entry's dates."""
    assert job.post is not None and job.published is not None
    return NoteInput(
        entry_id=job.entry_id, title=job.title, url=job.url, published=job.published, summary=job.description,
        hashtags=job.hashtags, language=job.post.language, text=job.post.text,
    )


def story_note(urls: Urls, entry: StoredEntry, source: SourceConfig | None, config: RelayConfig) -> Document | None:
    """The Note ``/ap/notes/{id}`` and ``/ap/featured`` serve for a story (None: it has none).

    The same planning as the relay's, so what followers received and what the id
    dereferences to say the same thing.
    """
    job = plan(row_id=0, target=ACTIVITYPUB, created=entry.first_seen, entry=entry, source=source, config=config)
    if job.action != "post":
        return None
    return activities.note(urls, note_input(job))


class ActivityPubTarget:
    """The ``activitypub`` target (see the module docstring); satisfies ``relay.targets.Target``."""

    name = ACTIVITYPUB

    def __init__(
        self, *, urls: Urls, log_: ActivityLog, followers: FollowerInboxes, spread: Spread | None = None,
        wake: Callable[[], None] | None = None, clock: Clock = utcnow,
    ):
        self.urls = urls
        self.log = log_
        self.followers = followers
        self.spread = spread
        self.wake = wake
        self.clock = clock

    def paused_until(self) -> datetime | None:
        return None  # each inbox has its own back-off in the fan-out

    async def close(self) -> None:
        return None

    async def verify(self) -> str:
        """``aggregator doctor``: there is no remote account to log in to (the actor is ours);
        say which actor posts and to how many follower inboxes. Nothing leaves the machine."""
        inboxes = await asyncio.to_thread(self.followers.delivery_inboxes, self.urls.actor)
        return f"{self.urls.actor} ({len(inboxes)} follower inboxes)"

    async def find(self, job: Job) -> Delivered | None:
        """Already published what this job asks for? (a retry after a crash)"""
        done, _ = await asyncio.to_thread(self._wanted, job)
        return done

    async def deliver(self, job: Job) -> Delivered:
        done, activity = await asyncio.to_thread(self._wanted, job)
        if done is not None:
            return done
        if activity is None:
            return Delivered(remote_id="")  # nothing was ever published: nothing to withdraw
        await asyncio.to_thread(self._publish, job, activity)
        if self.wake is not None:
            self.wake()
        log.info("activitypub.published", entry=job.entry_id, kind=activity["type"], id=activity["id"])
        return Delivered(remote_id=str(activity["id"]))

    def _publish(self, job: Job, activity: Document) -> None:
        inboxes = self.followers.delivery_inboxes(self.urls.actor)
        not_before = self.spread(inboxes, self.clock()) if self.spread is not None else None
        self.log.publish(local_actor=self.urls.actor, activity=activity, entry_id=job.entry_id, public=True,
                         inboxes=inboxes, not_before=not_before)

    def _wanted(self, job: Job) -> tuple[Delivered | None, Document | None]:
        """``(already done, None)`` or ``(None, the activity to publish)``; ``(None, None)``: nothing to do."""
        published = list(self.log.published(job.entry_id, local_actor=self.urls.actor))
        by_kind: dict[str, PublishedActivity] = {}
        for item in published:
            by_kind[item.kind] = item  # the latest of each kind
        if job.action == "delete":
            for kind in ("Delete", "Undo"):
                if kind in by_kind:
                    return Delivered(remote_id=by_kind[kind].activity_id), None
            if "Create" in by_kind:
                return None, activities.delete(self.urls, job.entry_id, deleted=self.clock())
            if "Announce" in by_kind and job.native_uri:
                return None, activities.undo_announce(self.urls, job.entry_id, job.native_uri)
            return None, None
        if job.action == "boost":
            if "Announce" in by_kind:
                return Delivered(remote_id=by_kind["Announce"].activity_id), None
            assert job.native_uri is not None
            return None, activities.announce(self.urls, job.entry_id, job.native_uri,
                                             published=job.published or self.clock())
        if job.action != "post":
            return None, None
        note = note_input(job)
        last = next((p for p in reversed(published) if p.kind in ("Create", "Update")), None)
        if last is None:
            return None, activities.create(self.urls, note)
        previous = self.log.activity(last.activity_id) or {}
        fresh = activities.note(self.urls, note)
        shown_object = previous.get("object")
        shown: Mapping[str, Any] = shown_object if isinstance(shown_object, Mapping) else {}
        if all(shown.get(k) == fresh.get(k) for k in _NOTE_FIELDS):
            return Delivered(remote_id=last.activity_id), None
        return None, activities.update(self.urls, replace(note, updated=self.clock()))
