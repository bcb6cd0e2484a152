"""A database that is down gives readers a plain 503, never a stack trace."""

from __future__ import annotations

from typing import Any

from aggregator.store import Store


async def test_database_down_answers_503_everywhere(make_client: Any, free_port_url: str) -> None:
    store = Store(free_port_url)  # nothing listens there
    client = await make_client(store)
    for path, kind in (("/", "text/html"), ("/sources", "text/html"), ("/api/items", "application/json"),
                       ("/feed.atom", "text/plain"), ("/healthz", "application/json")):
        r = await client.get(path)
        body = await r.text()
        assert r.status == 503, path
        assert r.headers["Content-Type"].startswith(kind), path
        assert "Traceback" not in body and "psycopg" not in body and "OperationalError" not in body, path
    store.close()
