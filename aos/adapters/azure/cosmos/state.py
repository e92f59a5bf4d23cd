"""`StateStore` on Cosmos DB: one item per agent, container `runtime`, partition = agent key, id `state`.

`get` is a point read. `put` at version 0 is a create (409 → `VersionConflict`: someone created it first);
above 0 it is a point read plus a replace conditioned on the item's `_etag`, so a concurrent writer at the same
version loses with 412 → `VersionConflict`. The AOS version is kept in the item beside the value.
"""

from __future__ import annotations

import json
from typing import Any

from aos.adapters.azure.cosmos.keys import RUNTIME
from aos.adapters.azure.cosmos.ops import Cosmos, Exists, Missing, Stale
from aos.adapters.embedded.common import json_copy, version_conflict
from aos.ports import StateStore

ITEM_ID = "state"


class CosmosStateStore(StateStore):
    def __init__(self, cosmos: Cosmos) -> None:
        self._db = cosmos

    async def get(self, key: str) -> tuple[dict[str, Any], int]:
        doc = await self._db.read(RUNTIME, ITEM_ID, key)
        if doc is None:
            return {}, 0
        return doc["value"], int(doc["version"])

    async def put(self, key: str, value: dict[str, Any], expected_version: int) -> int:
        copied = json.loads(json_copy(value, "agent state"))
        new = {"id": ITEM_ID, "agentKey": key, "kind": "state", "value": copied, "version": expected_version + 1}
        if expected_version == 0:
            try:
                await self._db.create(RUNTIME, new)
            except Exists:
                raise await self._conflict(key, expected_version) from None
            return 1
        doc = await self._db.read(RUNTIME, ITEM_ID, key)
        if doc is None or int(doc["version"]) != expected_version:
            raise version_conflict(
                f"state of '{key}'", expected_version, int(doc["version"]) if doc else 0, key=key
            )
        try:
            await self._db.replace(RUNTIME, new, doc["_etag"])
        except (Stale, Missing):
            raise await self._conflict(key, expected_version) from None
        return expected_version + 1

    async def _conflict(self, key: str, expected: int) -> Exception:
        _, actual = await self.get(key)
        return version_conflict(f"state of '{key}'", expected, actual, key=key)

    async def delete(self, key: str) -> bool:
        return await self._db.delete(RUNTIME, ITEM_ID, key)
