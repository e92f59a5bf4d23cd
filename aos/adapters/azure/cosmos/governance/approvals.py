"""`ApprovalStore` on Cosmos DB: container `runtime`, one partition per tenant (`{tenant}/~approvals`).

An item per approval, `ap-{approval id}` (`kind: "approval"`): status, request and expiry times (µs, indexed)
and the `Approval` itself. Parking is a create (a 409 returns what the first writer parked, so a retried step
parks once); deciding and marking applied replace the item conditioned on its `_etag`, so two operators deciding
at once cannot both win (the loser re-reads and gets `Conflict` naming the status). `due` is a cross-partition
query over pending approvals (indexed status and expiry), run by the scheduler's tick.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from aos.adapters.azure.cosmos.keys import RUNTIME, approval_id, approvals_pk
from aos.adapters.azure.cosmos.ops import Cosmos, Exists, Stale
from aos.adapters.embedded.common import micros
from aos.errors import Conflict, NotFound
from aos.governance_model import Approval, ApprovalStatus
from aos.ports import ApprovalStore

MAX_ATTEMPTS = 10


def _doc(a: Approval) -> dict[str, Any]:
    return {"id": approval_id(a.id), "agentKey": approvals_pk(a.tenant), "kind": "approval", "tenant": a.tenant,
            "status": a.status.value, "requestedAt": micros(a.requested_at), "expiresAt": micros(a.expires_at),
            "record": a.model_dump(mode="json")}


class CosmosApprovalStore(ApprovalStore):
    def __init__(self, cosmos: Cosmos) -> None:
        self._db = cosmos

    async def park(self, approval: Approval) -> Approval:
        try:
            await self._db.create(RUNTIME, _doc(approval))
            return approval
        except Exists:
            return await self.get(approval.tenant, approval.id)

    async def _read(self, tenant: str, approval_id_: str) -> dict[str, Any]:
        doc = await self._db.read(RUNTIME, approval_id(approval_id_), approvals_pk(tenant))
        if doc is None:
            raise NotFound(f"approval '{approval_id_}' does not exist in this tenant", approval_id=approval_id_)
        return doc

    async def get(self, tenant: str, approval_id: str) -> Approval:
        return Approval.model_validate((await self._read(tenant, approval_id))["record"])

    async def _update(self, tenant: str, approval_id_: str, change: Any) -> Approval:
        for _ in range(MAX_ATTEMPTS):
            doc = await self._read(tenant, approval_id_)
            updated: Approval = change(Approval.model_validate(doc["record"]))
            try:
                await self._db.replace(RUNTIME, _doc(updated), doc["_etag"])
                return updated
            except Stale:
                continue
        raise Conflict(f"approval '{approval_id_}' is being changed by others; retry", approval_id=approval_id_)

    async def decide(self, tenant: str, approval_id: str, status: str, by: str, note: str | None,
                     at: datetime) -> Approval:
        def change(current: Approval) -> Approval:
            if current.status is not ApprovalStatus.PENDING:
                raise Conflict(f"approval '{approval_id}' is already {current.status.value}",
                               approval_id=approval_id, current=current.status.value)
            return current.model_copy(update={"status": ApprovalStatus(status), "decided_by": by, "note": note,
                                              "decided_at": at})

        return await self._update(tenant, approval_id, change)

    async def mark_applied(self, tenant: str, approval_id: str) -> None:
        await self._update(tenant, approval_id, lambda a: a.model_copy(update={"applied": True}))

    async def list(self, tenant: str, *, status: str | None = None, limit: int = 100) -> list[Approval]:
        pk = approvals_pk(tenant)
        where, params = "c.agentKey = @pk AND c.kind = 'approval'", {"@pk": pk, "@n": limit}
        if status:
            where, params = where + " AND c.status = @status", {**params, "@status": status}
        sql = f"SELECT TOP @n * FROM c WHERE {where} ORDER BY c.requestedAt DESC"
        docs = await self._db.query(RUNTIME, sql, params, pk)
        docs.sort(key=lambda d: (d["requestedAt"], d["id"]), reverse=True)  # ties: newest id first, like SQLite
        return [Approval.model_validate(d["record"]) for d in docs]

    async def due(self, now: datetime, limit: int = 100) -> builtins.list[Approval]:
        sql = ("SELECT TOP @n * FROM c WHERE c.kind = 'approval' AND c.status = 'pending' AND c.expiresAt <= @now "
               "ORDER BY c.expiresAt")
        docs = await self._db.query(RUNTIME, sql, {"@n": limit, "@now": micros(now)}, None)
        docs.sort(key=lambda d: (d["expiresAt"], d["id"]))
        return [Approval.model_validate(d["record"]) for d in docs[:limit]]
