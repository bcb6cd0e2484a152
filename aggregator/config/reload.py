"""What a reloaded ``sources.yaml`` may change in a running process, and what waits for
the next start."""

from __future__ import annotations

from dataclasses import dataclass

from ..model import (
    Config,
    CrawlSettings,
)


@dataclass(frozen=True)
class ConfigChange:
    """What a reloaded ``sources.yaml`` changes, by source slug.

    ``restart_needed`` names the changed settings a running process cannot take over
    (they live in open connections: the HTTP client, the relay's accounts, the
    newsletter's schedule); they apply at the next start.
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    restart_needed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.restart_needed)


def reloadable(running: Config, new: Config) -> tuple[Config, ConfigChange]:
    """The configuration to run with after a reload, and what changed.

    Sources (added, removed, edited) and the crawl intervals apply at once; anything
    else keeps its running value until a restart and is listed in ``restart_needed``.
    """
    old = {s.slug: s for s in running.sources}
    now = {s.slug: s for s in new.sources}
    was, will = running.settings, new.settings
    restart = [f"settings.{key}" for key, before, after in (
        ("user_agent", was.user_agent, will.user_agent),
        ("per_host_delay", was.per_host_delay, will.per_host_delay),
        ("bluesky_appview", was.bluesky_appview, will.bluesky_appview),
    ) if before != after]
    if running.relay != new.relay:
        restart.append("relay")
    if running.digest != new.digest:
        restart.append("digest")
    if running.bluesky_feed != new.bluesky_feed:
        restart.append("bluesky_feed")
    if running.activitypub != new.activitypub:
        restart.append("activitypub")
    change = ConfigChange(
        added=tuple(slug for slug in now if slug not in old),
        removed=tuple(slug for slug in old if slug not in now),
        changed=tuple(slug for slug in now if slug in old and old[slug] != now[slug]),
        restart_needed=tuple(restart),
    )
    applied = Config(
        sources=new.sources,
        settings=CrawlSettings(**{
            **running.settings.__dict__,
            "min_interval": new.settings.min_interval, "max_interval": new.settings.max_interval,
        }),
        relay=running.relay, path=new.path, digest=running.digest, warnings=new.warnings,
        bluesky_feed=running.bluesky_feed, activitypub=running.activitypub,
    )
    return applied, change
