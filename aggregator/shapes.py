"""The JSON shapes of the contracts, built in one place for the CLI and the HTTP API.

``items --json`` and ``/api/items``, ``sources --json`` and ``/api/sources``,
``search --json`` and ``suggestions --json`` are documented in docs/commands.md; scripts rely on them, so each object is
made by exactly one function here (extend a shape; never rename or drop a field).
Dates are ISO 8601 UTC with a ``Z`` (``model.to_iso``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .model import SourceConfig, SourceState, StoredEntry, Suggestion, to_iso
from .search_results import SearchHit


def safe_url(value: str | None) -> str | None:
    """Only http(s) links reach a reader: ``javascript:`` and friends become no link."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value.strip()


def item_json(entry: StoredEntry) -> dict[str, Any]:
    """One line of ``aggregator items --json``."""
    return {
        "id": entry.id, "source": entry.source, "guid": entry.guid, "url": entry.url, "title": entry.title,
        "author": entry.author, "published": to_iso(entry.published), "updated": to_iso(entry.updated),
        "language": entry.language, "summary": entry.summary,
    }


def api_item_json(entry: StoredEntry, also: Iterable[StoredEntry] = (), snippet: str | None = None) -> dict[str, Any]:
    """An item of ``/api/items``: the CLI's fields, plus tags and the story's other copies."""
    out = item_json(entry)
    out["url"] = safe_url(entry.url)
    out.update({
        "tags": list(entry.tags), "kind": entry.kind, "story_id": entry.story_id,
        "also": [{"source": o.source, "url": safe_url(o.url)} for o in also],
    })
    if snippet is not None:
        out["snippet"] = snippet
    return out


def health_json(state: SourceState | None) -> dict[str, Any]:
    """The health part of a source's JSON (``sources --json`` and ``/api/sources``)."""
    if state is None:
        return {"status": "never", "last_fetch": None, "last_error": None, "error_count": 0,
                "next_fetch": None, "items": 0}
    return {
        "status": "disabled" if state.disabled else state.status,
        "last_fetch": to_iso(state.last_fetch),
        "last_error": state.last_error,
        "error_count": state.error_count,
        "next_fetch": to_iso(state.next_fetch),
        "items": state.items,
    }


def source_json(
    source: SourceConfig, state: SourceState | None, relay: Mapping[str, Any] | None = None,
    follow: str | None = None,
) -> dict[str, Any]:
    """One line of ``aggregator sources --json``; ``relay`` is added when an outbox exists.

    ``url`` is where the source is read from now (after permanent redirects), or its
    account, handle or actor for fediverse sources. An ``activitypub`` source also says
    where our Follow stands: ``follow`` is ``pending``, ``accepted``, ``rejected`` or null
    (not sent yet).
    """
    row: dict[str, Any] = {
        "slug": source.slug,
        "name": source.name,
        "kind": source.kind,
        "url": (state.url if state and state.url else None) or source.url or source.account or source.handle
        or source.actor,
        **health_json(state),
    }
    if source.kind == "activitypub":
        row["follow"] = follow
    if relay is not None:
        row["relay"] = dict(relay)
    return row


def with_deliveries(
    relay: Mapping[str, Mapping[str, Any]], deliveries: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The outbox status by source and target, with the ActivityPub fan-out's counts added as
    ``relay.activitypub.deliveries`` (``{"delivered", "pending", "failed", "last_error"}``)."""
    out = {slug: {target: dict(status) for target, status in targets.items()} for slug, targets in relay.items()}
    for slug, counts in deliveries.items():
        target = out.setdefault(slug, {}).setdefault("activitypub", {})
        target["deliveries"] = dict(counts)
    return out


def api_source_json(source: SourceConfig, state: SourceState | None) -> dict[str, Any]:
    """A source of ``/api/sources``: what readers see of it, and its health."""
    return {
        "slug": source.slug, "name": source.name, "kind": source.kind, "url": source.url,
        "website": source.website, "description": source.description, "language": source.language,
        "tags": list(source.tags), "mastodon": source.mastodon, "bluesky": source.bluesky,
        **health_json(state),
        "feed_title": state.feed_title if state else None,
    }


def search_hit_json(hit: SearchHit) -> dict[str, Any]:
    """One line of ``aggregator search --json``."""
    return {
        "id": hit.id, "source": hit.source, "url": hit.url, "title": hit.title,
        "published": to_iso(hit.published), "score": round(hit.score, 4), "snippet": hit.snippet,
    }


def suggestion_json(suggestion: Suggestion) -> dict[str, Any]:
    """One line of ``aggregator suggestions --json``."""
    s = suggestion
    return {
        "id": s.id, "url": s.url, "feed_url": s.feed_url, "title": s.title, "items": s.items,
        "language": s.language, "note": s.note, "outcome": s.outcome, "error": s.error, "state": s.state,
        "created": to_iso(s.created), "decided": to_iso(s.decided), "source": s.source,
    }
