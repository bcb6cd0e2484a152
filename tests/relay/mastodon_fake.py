"""A small stateful Mastodon on 127.0.0.1 for the relay tests.

No Mastodon server can be installed here, so this fake answers the few calls the relay
makes with the JSON shapes and headers of the real Mastodon 4.6 recordings in
``../shared/corpus/mastodon/api-cassettes`` (status and account fields, ``X-RateLimit-*``
headers with an ISO reset time, ``Link: <...max_id=...>; rel="next"`` pagination), and
behaves like the real server where the relay depends on it:

- ``Idempotency-Key`` on ``POST /api/v1/statuses``: a repeat within the key's lifetime
  (one hour on Mastodon; ``idempotency_ttl`` here) returns the first status, not a new one;
- reblogging twice returns the existing reblog;
- ``GET /api/v2/search?resolve=true`` turns a remote status URI into a local status;
- 300 calls per window, then 429.

Faults for the exactly-once tests: ``fail_next`` (answer an error without posting) and
``drop_after_commit`` (post, then cut the connection before answering).
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

LINK = re.compile(r"https?://\S+")


@dataclass
class Sent:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeMastodon:
    token: str = "relay-token"
    idempotency_ttl: float = 3600.0
    rate_limit: int = 300
    fail_next: list[int] = field(default_factory=list)
    drop_after_commit: int = 0
    hang_after_commit: bool = False  # post, then never answer (the client is killed meanwhile)
    base: str = ""
    sent: list[Sent] = field(default_factory=list)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)  # local id -> status
    remote: dict[str, dict[str, Any]] = field(default_factory=dict)  # uri -> remote status
    _keys: dict[str, tuple[str, float]] = field(default_factory=dict)
    _next_id: int = 117020585846976096
    _calls: int = 0
    _window_start: float = field(default_factory=time.time)
    _runner: web.AppRunner | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    # -- helpers for tests --------------------------------------------------------------

    @property
    def account(self) -> dict[str, Any]:
        return {
            "id": "117020565966271181", "username": "relay", "acct": "relay", "display_name": "Relais",
            "locked": False, "bot": True, "group": False, "created_at": "2026-08-01T00:00:00.000Z",
            "note": "<p>Relais des médias indépendants</p>", "url": f"{self.base}/@relay",
            "uri": f"{self.base}/users/relay", "avatar": f"{self.base}/avatars/original/missing.png",
            "avatar_static": f"{self.base}/avatars/original/missing.png", "header": "", "header_static": "",
            "followers_count": 0, "following_count": 0, "statuses_count": len(self.own_posts()),
            "last_status_at": None, "emojis": [], "fields": [],
        }

    def own_posts(self) -> list[dict[str, Any]]:
        return [s for s in self.statuses.values() if s["account"]["id"] == "117020565966271181" and not s["reblog"]]

    def reblogs(self) -> list[dict[str, Any]]:
        return [s for s in self.statuses.values() if s["reblog"]]

    def add_remote(self, uri: str, text: str) -> None:
        """A status of another instance, found only through search with resolve=true."""
        self.remote[uri] = {"uri": uri, "text": text}

    def expire_keys(self) -> None:
        """What an hour does on a real server: idempotency keys are forgotten."""
        self._keys.clear()

    def _id(self) -> str:
        self._next_id += 1000
        return str(self._next_id)

    def _status(self, text: str, *, visibility: str, language: str | None, account: dict[str, Any] | None = None,
                reblog: dict[str, Any] | None = None, uri: str | None = None) -> dict[str, Any]:
        sid = self._id()
        acct = account or self.account
        content = "" if reblog else "<p>" + LINK.sub(
            lambda m: f'<a href="{m.group()}" rel="nofollow noopener" target="_blank">{m.group()}</a>',
            html.escape(text, quote=False)).replace("\n", "<br />") + "</p>"
        status = {
            "id": sid, "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "in_reply_to_id": None, "in_reply_to_account_id": None, "sensitive": False, "spoiler_text": "",
            "visibility": visibility, "language": language,
            "uri": uri or f"{self.base}/users/{acct['username']}/statuses/{sid}",
            "url": f"{self.base}/@{acct['username']}/{sid}", "replies_count": 0, "reblogs_count": 0,
            "favourites_count": 0, "edited_at": None, "favourited": False, "reblogged": bool(reblog),
            "muted": False, "bookmarked": False, "content": content, "filtered": [], "reblog": reblog,
            "application": {"name": "aggregator", "website": None}, "account": acct,
            "media_attachments": [], "mentions": [], "tags": [], "emojis": [], "card": None, "poll": None,
        }
        self.statuses[sid] = status
        return status

    # -- the server ---------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        reset = datetime.fromtimestamp(self._window_start + 300, UTC)
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - self._calls)),
            "X-RateLimit-Reset": reset.isoformat().replace("+00:00", "Z"),
            "Cache-Control": "private, no-store",
        }

    def _json(self, data: Any, status: int = 200, extra: dict[str, str] | None = None) -> web.Response:
        return web.json_response(data, status=status, headers={**self._headers(), **(extra or {})})

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        form = dict(await request.post()) if request.method == "POST" else {}
        self.sent.append(Sent(request.method, request.path, dict(request.headers), {k: str(v) for k, v in form.items()}))
        if time.time() > self._window_start + 300:
            self._window_start, self._calls = time.time(), 0
        self._calls += 1
        if self._calls > self.rate_limit:
            return self._json({"error": "Too many requests"}, 429)
        if request.headers.get("Authorization") != f"Bearer {self.token}" and request.path != "/api/v1/instance":
            return self._json({"error": "The access token is invalid"}, 401)
        return await handler(request)

    async def instance(self, request: web.Request) -> web.Response:
        return self._json({
            "uri": self.base.split("://")[1], "title": "Mastodon", "short_description": "", "description": "",
            "email": "", "version": "4.6.4", "urls": {}, "stats": {"user_count": 1, "status_count": 0, "domain_count": 1},
            "languages": ["fr"], "registrations": False, "approval_required": False, "invites_enabled": False,
            "configuration": {"statuses": {"max_characters": 500, "max_media_attachments": 4,
                                           "characters_reserved_per_url": 23}},
            "contact_account": None, "rules": [],
        })

    async def verify_credentials(self, request: web.Request) -> web.Response:
        return self._json(self.account)

    async def post_status(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()  # read (and cached) by the middleware
        if self.fail_next:
            return self._json({"error": "Service Unavailable"}, self.fail_next.pop(0))
        key = request.headers.get("Idempotency-Key")
        if key and key in self._keys and time.monotonic() - self._keys[key][1] < self.idempotency_ttl:
            return self._json(self.statuses[self._keys[key][0]])
        text = str(form.get("status", ""))
        if len(LINK.sub("x" * 23, text)) > 500:
            return self._json({"error": "Validation failed: Text character limit of 500 exceeded"}, 422)
        language = form.get("language")
        status = self._status(text, visibility=str(form.get("visibility") or "public"),
                              language=str(language) if language else None)
        if key:
            self._keys[key] = (status["id"], time.monotonic())
        if self.hang_after_commit:
            self.hang_after_commit = False
            await self._released.wait()
        if self.drop_after_commit:
            self.drop_after_commit -= 1
            # Posted, but the client never hears it: the connection is cut.
            assert request.transport is not None
            request.transport.abort()
            raise web.HTTPServiceUnavailable()
        return self._json(status)

    async def get_status(self, request: web.Request) -> web.Response:
        status = self.statuses.get(request.match_info["id"])
        return self._json(status) if status else self._json({"error": "Record not found"}, 404)

    async def reblog(self, request: web.Request) -> web.Response:
        original = self.statuses.get(request.match_info["id"])
        if original is None:
            return self._json({"error": "Record not found"}, 404)
        for status in self.reblogs():
            if status["reblog"]["id"] == original["id"]:
                return self._json(status)  # Mastodon: reblogging twice returns the same reblog
        reblog = self._status("", visibility="public", language=None, reblog=original)
        return self._json(reblog)

    async def search(self, request: web.Request) -> web.Response:
        q = request.query.get("q", "")
        found = [s for s in self.statuses.values() if s["uri"] == q or s["url"] == q]
        if not found and q in self.remote and request.query.get("resolve") in ("1", "true", "True"):
            other = {**self.account, "id": "99", "username": "source", "acct": "source@remote.example",
                     "url": "https://remote.example/@source", "uri": "https://remote.example/users/source"}
            found = [self._status(self.remote[q]["text"], visibility="public", language="fr", account=other, uri=q)]
        return self._json({"accounts": [], "statuses": found, "hashtags": []})

    async def account_statuses(self, request: web.Request) -> web.Response:
        if request.match_info["id"] != self.account["id"]:
            return self._json([])
        limit = min(int(request.query.get("limit", "20")), 40)
        max_id = request.query.get("max_id")
        mine = sorted((s for s in self.statuses.values() if s["account"]["id"] == self.account["id"]),
                      key=lambda s: int(s["id"]), reverse=True)
        if max_id:
            mine = [s for s in mine if int(s["id"]) < int(max_id)]
        page = mine[:limit]
        extra = {}
        if len(mine) > limit:
            extra["Link"] = (f'<{self.base}/api/v1/accounts/{self.account["id"]}/statuses?limit={limit}&max_id={page[-1]["id"]}>; rel="next", '
                             f'<{self.base}/api/v1/accounts/{self.account["id"]}/statuses?limit={limit}&min_id={page[0]["id"]}>; rel="prev"')
        return self._json(page, extra=extra)

    async def start(self) -> str:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/api/v1/instance", self.instance)
        app.router.add_get("/api/v1/accounts/verify_credentials", self.verify_credentials)
        app.router.add_get("/api/v1/accounts/{id}/statuses", self.account_statuses)
        app.router.add_post("/api/v1/statuses", self.post_status)
        app.router.add_get("/api/v1/statuses/{id}", self.get_status)
        app.router.add_post("/api/v1/statuses/{id}/reblog", self.reblog)
        app.router.add_get("/api/v2/search", self.search)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self.base

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

