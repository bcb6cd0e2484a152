"""Reading the relay account back from the real PDS and AppView."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.peers.bluesky import BlueskyNetwork, xrpc


async def list_records(session: aiohttp.ClientSession, network: BlueskyNetwork, did: str, collection: str) -> list[dict[str, Any]]:
    """Every record of a collection (``com.atproto.repo.listRecords`` is public on the PDS)."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"repo": did, "collection": collection, "limit": "100"}
        if cursor:
            params["cursor"] = cursor
        data = await xrpc(session, network.pds, "com.atproto.repo.listRecords", params=params)
        out.extend(data["records"])
        cursor = data.get("cursor")
        if not cursor or not data["records"]:
            return out
