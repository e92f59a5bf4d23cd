"""`UsageCounter` on Cosmos DB: container `runtime`, one partition per tenant (`{tenant}/~usage`).

A bucket item per (who, minute): `u-{minute}-{agent id}` for an agent and `u-{minute}-~all` for the tenant
total, with one number per metric (`aos.governance_model.METRICS`), created with zeros and then incremented with
a patch (`incr`: the service adds; no read-modify-write race). The agent's and the tenant's buckets share the
tenant's partition so that one add can be one transactional batch on real Cosmos (two patches, all or nothing).
`totals` is one single-partition query that sums the buckets (`SUM`) server-side.

Emulator (no batch): the agent's bucket is patched first, then the tenant's; a crash between them leaves the
tenant total short by that one add (budgets per tenant then allow that much more). Not idempotent anywhere: an
add retried after a timeout that had in fact landed counts twice (over-counting errs on the safe side of a
budget). Limitation: every add of a tenant writes its one partition (≈ 10,000 RU/s, some 500 adds/s per
tenant); `prune` is a cross-partition query of old buckets followed by point deletes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aos.adapters.azure.cosmos.keys import RUNTIME, usage_id, usage_pk
from aos.adapters.azure.cosmos.ops import Cosmos, Exists, Missing
from aos.adapters.embedded.memory_governance import minute
from aos.governance_model import METRICS
from aos.ports import UsageCounter

TENANT = "~all"


class CosmosUsageCounter(UsageCounter):
    def __init__(self, cosmos: Cosmos) -> None:
        self._db = cosmos

    async def add(self, tenant: str, agent_id: str, deltas: dict[str, int], at: datetime) -> None:
        ops = [{"op": "incr", "path": f"/{m}", "value": int(n)} for m, n in deltas.items() if n and m in METRICS]
        if not ops:
            return
        pk, m = usage_pk(tenant), minute(at)
        buckets = [usage_id(m, agent_id), usage_id(m, TENANT)]
        for _ in range(3):
            try:
                if self._db.supports_batch:
                    await self._db.batch(RUNTIME, pk, [("patch", (b, ops)) for b in buckets])
                else:
                    for b in buckets:
                        await self._db.patch(RUNTIME, b, pk, ops)
                return
            except Missing:  # first add of that minute: create the buckets (zeros), then patch again
                await self._create(pk, tenant, m, buckets, agent_id)
        raise AssertionError("unreachable: buckets exist after they were created")  # pragma: no cover

    async def _create(self, pk: str, tenant: str, m: int, buckets: list[str], agent_id: str) -> None:
        for bucket, who in zip(buckets, (agent_id, TENANT)):
            doc: dict[str, Any] = {"id": bucket, "agentKey": pk, "kind": "usage", "tenant": tenant, "who": who,
                                   "minute": m, **dict.fromkeys(METRICS, 0)}
            try:
                await self._db.create(RUNTIME, doc)
            except Exists:
                pass

    async def totals(self, tenant: str, agent_id: str | None, since: datetime) -> dict[str, int]:
        sums = ", ".join(f"SUM(c.{m}) AS {m}" for m in METRICS)
        sql = (f"SELECT {sums} FROM c WHERE c.agentKey = @pk AND c.kind = 'usage' AND c.who = @who "
               "AND c.minute >= @since")
        pk = usage_pk(tenant)
        rows = await self._db.query(RUNTIME, sql, {"@pk": pk, "@who": agent_id or TENANT, "@since": minute(since)},
                                    pk)
        out: dict[str, int] = {}
        for row in rows:
            for m in METRICS:
                if row.get(m):
                    out[m] = out.get(m, 0) + int(row[m])
        return out

    async def prune(self, before: datetime) -> int:
        sql = "SELECT c.id, c.agentKey FROM c WHERE c.kind = 'usage' AND c.minute < @before"
        gone = 0
        for row in await self._db.query(RUNTIME, sql, {"@before": minute(before)}, None):
            gone += await self._db.delete(RUNTIME, row["id"], row["agentKey"])
        return gone
