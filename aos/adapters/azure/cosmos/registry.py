"""`AgentRegistry` on Cosmos DB: container `agents`, partition key `/tenant`, item id = agent id.

RU notes: `get` is a point read; `update` is a point read plus a conditional replace (`If-Match` on the item's
`_etag`, so two writers at the same version cannot both win: the loser gets 412 → `VersionConflict`). `list`
and `subscribers` are single-partition queries (one tenant). `due` and `count` are the only cross-partition
queries; `due` reads only ACTIVE agents whose `wakeAt` (microseconds, indexed) has passed.

Paging: `list` pages by id with a keyset cursor (the last id, base64, opaque) and `TOP limit+1`, so a page that
ends the listing says so (no trailing empty page) and a cursor stays valid across deploys. Cosmos continuation
tokens are followed inside `Cosmos.iterate` where a query spans several service pages.

Labels are stored as `"key=value"` strings in an array so `ARRAY_CONTAINS` filters them with parameters;
subscriptions as the array of their type patterns, matched against `type_patterns(event_type)`.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from aos.adapters.azure.cosmos.keys import AGENTS
from aos.adapters.azure.cosmos.ops import Cosmos, Exists, Missing, Stale
from aos.adapters.embedded.common import check_limit, decode_cursor, encode_cursor, micros, type_patterns
from aos.errors import AgentExists, AgentNotFound, VersionConflict
from aos.model import AgentRecord, AgentState
from aos.ports import AgentRegistry

KIND = "agent"


def _doc(record: AgentRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "tenant": record.tenant,
        "kind": KIND,
        "state": record.state.value,
        "version": record.version,
        "subs": sorted({s.type for s in record.spec.subscriptions}),
        "labels": [f"{k}={v}" for k, v in sorted(record.spec.labels.items())],
        "wakeAt": micros(record.next_wake_at) if record.next_wake_at is not None else None,
        "record": record.model_dump(mode="json"),
    }


def _record(doc: dict[str, Any]) -> AgentRecord:
    return AgentRecord.model_validate(doc["record"])


def _conflict(record: AgentRecord, actual: int) -> VersionConflict:
    return VersionConflict(
        f"agent '{record.id}' is at version {actual}, not {record.version}: re-read it and retry",
        expected=record.version,
        actual=actual,
        agent_id=record.id,
    )


class CosmosAgentRegistry(AgentRegistry):
    def __init__(self, cosmos: Cosmos) -> None:
        self._db = cosmos

    async def create(self, record: AgentRecord) -> AgentRecord:
        stored = record.model_copy(update={"version": 1}, deep=True)
        try:
            await self._db.create(AGENTS, _doc(stored))
        except Exists:
            raise AgentExists(record.id) from None
        return stored

    async def get(self, tenant: str, agent_id: str) -> AgentRecord:
        doc = await self._db.read(AGENTS, agent_id, tenant)
        if doc is None:
            raise AgentNotFound(tenant, agent_id)
        return _record(doc)

    async def update(self, record: AgentRecord) -> AgentRecord:
        doc = await self._db.read(AGENTS, record.id, record.tenant)
        if doc is None:
            raise AgentNotFound(record.tenant, record.id)
        if doc["version"] != record.version:
            raise _conflict(record, doc["version"])
        stored = record.model_copy(update={"version": record.version + 1}, deep=True)
        try:
            await self._db.replace(AGENTS, _doc(stored), doc["_etag"])
        except Stale:
            fresh = await self._db.read(AGENTS, record.id, record.tenant)
            raise _conflict(record, fresh["version"] if fresh else 0) from None
        except Missing:
            raise AgentNotFound(record.tenant, record.id) from None
        return stored

    async def delete(self, tenant: str, agent_id: str) -> bool:
        return await self._db.delete(AGENTS, agent_id, tenant)

    async def list(
        self,
        tenant: str,
        *,
        state: AgentState | None = None,
        labels: dict[str, str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[AgentRecord], str | None]:
        check_limit(limit)
        where = ["c.tenant = @pk", "c.kind = @kind"]
        params: dict[str, Any] = {"@pk": tenant, "@kind": KIND, "@n": limit + 1}
        if cursor:
            where.append("c.id > @after")
            params["@after"] = decode_cursor(cursor)
        if state is not None:
            where.append("c.state = @state")
            params["@state"] = state.value
        for i, (k, v) in enumerate(sorted((labels or {}).items())):
            where.append(f"ARRAY_CONTAINS(c.labels, @l{i})")
            params[f"@l{i}"] = f"{k}={v}"
        sql = f"SELECT TOP @n * FROM c WHERE {' AND '.join(where)} ORDER BY c.id"
        docs = await self._db.query(AGENTS, sql, params, tenant)
        page = [_record(d) for d in docs[:limit]]
        return page, encode_cursor(page[-1].id) if len(docs) > limit else None

    async def subscribers(self, tenant: str, event_type: str) -> builtins.list[AgentRecord]:
        patterns = type_patterns(event_type)
        params: dict[str, Any] = {"@pk": tenant, "@kind": KIND}
        ors = []
        for i, pattern in enumerate(patterns):
            ors.append(f"ARRAY_CONTAINS(c.subs, @p{i})")
            params[f"@p{i}"] = pattern
        sql = f"SELECT * FROM c WHERE c.tenant = @pk AND c.kind = @kind AND ({' OR '.join(ors)}) ORDER BY c.id"
        return [_record(d) for d in await self._db.query(AGENTS, sql, params, tenant)]

    async def due(self, now: datetime, limit: int = 100) -> builtins.list[AgentRecord]:
        check_limit(limit)
        sql = (
            "SELECT TOP @n * FROM c WHERE c.kind = @kind AND c.state = @state AND c.wakeAt <= @now "
            "ORDER BY c.wakeAt"
        )
        params = {"@n": limit, "@kind": KIND, "@state": AgentState.ACTIVE.value, "@now": micros(now)}
        docs = await self._db.query(AGENTS, sql, params, None)
        docs.sort(key=lambda d: (d["wakeAt"], d["tenant"], d["id"]))
        return [_record(d) for d in docs[:limit]]

    async def count(self) -> int:
        sql = "SELECT VALUE COUNT(1) FROM c WHERE c.kind = @kind"
        return int(sum(await self._db.query(AGENTS, sql, {"@kind": KIND}, None)))
