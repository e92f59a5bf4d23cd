"""In-memory governance stores: audit chain, policies, usage counters, approvals.

Limitations: nothing is durable (a restart forgets the audit log, every policy and all usage); one process
only. Each method runs without awaiting, so on one event loop every call is atomic, which is how `append`
keeps a tenant's chain unforked.
"""

from __future__ import annotations

import builtins
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from aos.errors import Conflict, NotFound, VersionConflict
from aos.governance_model import GENESIS, Approval, ApprovalStatus, AuditRecord, PolicyRecord, chain_records
from aos.ports import ApprovalStore, AuditEntry, AuditLog, Governance, PolicyStore, UsageCounter


def minute(at: datetime) -> int:
    return int(at.timestamp()) // 60


class MemoryAuditLog(AuditLog):
    def __init__(self) -> None:
        #: Public so tests can tamper with it the way an attacker with storage access would.
        self.records: dict[str, list[AuditRecord]] = defaultdict(list)
        self.heads: dict[str, tuple[int, str]] = {}

    async def append(self, tenant: str, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        seq, prev = self.heads.get(tenant, (0, GENESIS))
        out = chain_records(tenant, seq, prev, [e.fields() for e in entries])
        if out:
            self.records[tenant].extend(out)
            self.heads[tenant] = (out[-1].seq, out[-1].hash)
        return out

    async def head(self, tenant: str) -> tuple[int, str]:
        return self.heads.get(tenant, (0, GENESIS))

    async def page(
        self, tenant: str, *, before: int | None = None, limit: int = 50, kind: str | None = None,
        action_prefix: str | None = None, agent_id: str | None = None,
    ) -> list[AuditRecord]:
        out = []
        for r in reversed(self.records.get(tenant, [])):
            if before is not None and r.seq >= before:
                continue
            if (kind and r.kind != kind) or (agent_id and r.agent_id != agent_id):
                continue
            if action_prefix and not r.action.startswith(action_prefix):
                continue
            out.append(r)
            if len(out) >= limit:
                break
        return out

    async def scan(self, tenant: str, *, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        rows = sorted(self.records.get(tenant, []), key=lambda r: r.seq)
        return [r for r in rows if r.seq > after][:limit]


class MemoryPolicyStore(PolicyStore):
    def __init__(self) -> None:
        self._versions: dict[tuple[str, str], list[PolicyRecord]] = defaultdict(list)
        self._stamps: dict[str, int] = defaultdict(int)

    async def put(self, record: PolicyRecord, expected_version: int | None = None) -> PolicyRecord:
        versions = self._versions[(record.tenant, record.name)]
        latest = versions[-1].version if versions else 0
        if expected_version is not None and expected_version != latest:
            raise VersionConflict(f"policy '{record.name}' is at version {latest}, not {expected_version}",
                                  policy=record.name)
        stored = record.model_copy(update={"version": latest + 1})
        versions.append(stored)
        self._stamps[record.tenant] += 1
        return stored

    async def get(self, tenant: str, name: str, version: int | None = None) -> PolicyRecord:
        versions = self._versions.get((tenant, name), [])
        found = ([v for v in versions if v.version == version] if version is not None
                 else [v for v in versions[-1:] if not v.deleted])
        if not found:
            what = f"policy '{name}'" + (f" version {version}" if version is not None else "")
            raise NotFound(f"{what} does not exist in this tenant", policy=name)
        return found[0]

    async def delete(self, tenant: str, name: str, when: datetime, by: str = "") -> bool:
        try:
            live = await self.get(tenant, name)
        except NotFound:
            return False
        await self.put(live.model_copy(update={"deleted": True, "updated_at": when, "updated_by": by}))
        return True

    async def list(self, tenant: str) -> list[PolicyRecord]:
        return sorted((v[-1] for (t, _), v in self._versions.items() if t == tenant and v and not v[-1].deleted),
                      key=lambda r: r.name)

    async def versions(self, tenant: str, name: str) -> builtins.list[PolicyRecord]:
        return list(self._versions.get((tenant, name), []))

    async def stamp(self, tenant: str) -> int:
        return self._stamps[tenant]


class MemoryUsageCounter(UsageCounter):
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str, int], dict[str, int]] = {}

    async def add(self, tenant: str, agent_id: str, deltas: dict[str, int], at: datetime) -> None:
        m = minute(at)
        for who in (agent_id, "*"):
            bucket = self._buckets.setdefault((tenant, who, m), {})
            for name, n in deltas.items():
                if n:
                    bucket[name] = bucket.get(name, 0) + n

    async def totals(self, tenant: str, agent_id: str | None, since: datetime) -> dict[str, int]:
        who, start = agent_id or "*", minute(since)
        out: dict[str, int] = {}
        for (t, w, m), bucket in self._buckets.items():
            if t == tenant and w == who and m >= start:
                for name, n in bucket.items():
                    out[name] = out.get(name, 0) + n
        return out

    async def prune(self, before: datetime) -> int:
        old = [k for k in self._buckets if k[2] < minute(before)]
        for k in old:
            del self._buckets[k]
        return len(old)


class MemoryApprovalStore(ApprovalStore):
    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Approval] = {}

    async def park(self, approval: Approval) -> Approval:
        return self._items.setdefault((approval.tenant, approval.id), approval)

    async def get(self, tenant: str, approval_id: str) -> Approval:
        found = self._items.get((tenant, approval_id))
        if found is None:
            raise NotFound(f"approval '{approval_id}' does not exist in this tenant", approval_id=approval_id)
        return found

    async def decide(self, tenant: str, approval_id: str, status: str, by: str, note: str | None,
                     at: datetime) -> Approval:
        current = await self.get(tenant, approval_id)
        if current.status is not ApprovalStatus.PENDING:
            raise Conflict(f"approval '{approval_id}' is already {current.status.value}",
                           approval_id=approval_id, current=current.status.value)
        updated = current.model_copy(update={"status": ApprovalStatus(status), "decided_by": by, "note": note,
                                             "decided_at": at})
        self._items[(tenant, approval_id)] = updated
        return updated

    async def mark_applied(self, tenant: str, approval_id: str) -> None:
        current = await self.get(tenant, approval_id)
        self._items[(tenant, approval_id)] = current.model_copy(update={"applied": True})

    async def list(self, tenant: str, *, status: str | None = None, limit: int = 100) -> list[Approval]:
        found = [a for (t, _), a in self._items.items() if t == tenant and (status is None or a.status == status)]
        return sorted(found, key=lambda a: (a.requested_at, a.id), reverse=True)[:limit]

    async def due(self, now: datetime, limit: int = 100) -> builtins.list[Approval]:
        found = [a for a in self._items.values() if a.status is ApprovalStatus.PENDING and a.expires_at <= now]
        return sorted(found, key=lambda a: a.expires_at)[:limit]


def memory_governance() -> Governance:
    return Governance(MemoryAuditLog(), MemoryPolicyStore(), MemoryUsageCounter(), MemoryApprovalStore())


__all__ = ["MemoryApprovalStore", "MemoryAuditLog", "MemoryPolicyStore", "MemoryUsageCounter",
                      "memory_governance"]
