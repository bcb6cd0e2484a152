"""A source page tells readers and operators how the relay is doing for that source."""

from __future__ import annotations

from typing import Any

from aggregator.store import Store


async def test_source_page_shows_relay_status(filled: Store, make_client: Any) -> None:
    status = filled.outbox.status_by_source("paris-luttes")["paris-luttes"]["mastodon"]
    assert status["pending"] > 0
    client = await make_client(filled)
    page = await (await client.get("/sources/paris-luttes")).text()
    assert "Relais" in page
    assert f"0 publiés, {status['pending']} en attente, 0 en échec" in page
    english = await (await client.get("/sources/paris-luttes", headers={"Accept-Language": "en"})).text()
    assert f"0 posted, {status['pending']} waiting, 0 failed" in english
