"""Every key ``sources.yaml`` accepts, by section: the parser refuses the others, and a
documentation test checks each is described in docs/configuration.md."""

SOURCE_KEYS = {
    "name", "slug", "kind", "url", "account", "handle", "language", "tags", "relay",
    "description", "website", "mastodon", "bluesky", "template", "actor",
}
SETTINGS_KEYS = {"user_agent", "min_interval", "max_interval", "bluesky_appview", "per_host_delay"}
RELAY_KEYS = {"mastodon", "bluesky", "template", "hashtags", "max_posts_per_hour", "backlog", "max_attempts"}
MASTODON_KEYS = {"api_base_url", "visibility"}
BLUESKY_KEYS = {"service", "appview"}
DIGEST_KEYS = {"from", "send_at", "timezone", "list_address", "group_by", "max_per_hour", "unsubscribe_address"}
ACTIVITYPUB_KEYS = {"username", "name", "summary", "avatar", "blocked_domains"}
BLUESKY_FEED_KEYS = {"feeds", "list", "starter_pack", "plc", "sync_every"}
BLUESKY_FEED_DEF_KEYS = {"short_name", "display_name", "description", "avatar", "tags", "languages", "sources"}
BLUESKY_LIST_KEYS = {"name", "description", "avatar"}
BLUESKY_STARTER_PACK_KEYS = {"name", "description"}
TOP_KEYS = {"sources", "settings", "relay", "digest", "bluesky_feed", "activitypub"}
