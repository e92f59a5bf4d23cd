"""Contract of the governance ports (AuditLog, PolicyStore, UsageCounter, ApprovalStore) on every backend:
memory, SQLite and Cosmos (emulator). A backend without governance stores fails here (it would govern nothing)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from aos.adapters.embedded import ManualClock
from aos.errors import Conflict, NotFound, VersionConflict
from aos.governance_model import GENESIS, Approval, PolicyDocument, PolicyRecord, audit_hash
from aos.ports import AuditEntry, Governance, Stores

pytestmark = pytest.mark.anyio


@pytest.fixture
def gov(stores: Stores) -> Governance:
    assert stores.governance is not None, "every backend provides the governance stores"
    return stores.governance  # type: ignore[no-any-return]


def entry(i: int) -> AuditEntry:
    return AuditEntry(ts=f"2025-01-01T00:00:{i:02d}+00:00", kind="call", action=f"a.{i}", details={"i": i})


async def test_audit_append_chains_per_tenant_without_forks_under_concurrency(gov: Governance) -> None:
    assert await gov.audit.head("t1") == (0, GENESIS)
    await asyncio.gather(*(gov.audit.append("t1", [entry(i), entry(i + 50)]) for i in range(20)))
    await gov.audit.append("t2", [entry(1)])
    rows = await gov.audit.scan("t1")
    assert [r.seq for r in rows] == list(range(1, 41))
    prev = GENESIS
    for r in rows:
        assert r.prev == prev and r.hash == audit_hash(r.model_dump(), r.prev)
        prev = r.hash
    assert await gov.audit.head("t1") == (40, prev)
    assert (await gov.audit.scan("t2"))[0].prev == GENESIS


async def test_audit_page_filters_newest_first(gov: Governance) -> None:
    await gov.audit.append("t", [entry(1), AuditEntry(ts="x", kind="step", action="agent.step", agent_id="a"),
                                 entry(2)])
    assert [r.seq for r in await gov.audit.page("t")] == [3, 2, 1]
    assert [r.seq for r in await gov.audit.page("t", before=3, limit=1)] == [2]
    assert [r.seq for r in await gov.audit.page("t", kind="call")] == [3, 1]
    assert [r.seq for r in await gov.audit.page("t", action_prefix="agent.")] == [2]
    assert [r.seq for r in await gov.audit.page("t", agent_id="a")] == [2]
    assert [r.seq for r in await gov.audit.scan("t", after=1, limit=1)] == [2]


async def test_policies_are_versioned_with_tombstones(gov: Governance, clock: ManualClock) -> None:
    doc = PolicyDocument.model_validate({"rules": [{"id": "r", "actions": ["*"], "effect": "deny"}]})
    rec = PolicyRecord(tenant="t", name="p", version=0, document=doc, updated_at=clock.now())
    stamp = await gov.policies.stamp("t")
    assert (await gov.policies.put(rec)).version == 1
    assert (await gov.policies.put(rec, expected_version=1)).version == 2
    with pytest.raises(VersionConflict):
        await gov.policies.put(rec, expected_version=1)
    assert await gov.policies.stamp("t") != stamp
    assert (await gov.policies.get("t", "p")).version == 2
    assert (await gov.policies.get("t", "p", 1)).version == 1
    assert [r.name for r in await gov.policies.list("t")] == ["p"]
    assert await gov.policies.delete("t", "p", clock.now()) is True
    assert await gov.policies.delete("t", "p", clock.now()) is False
    with pytest.raises(NotFound):
        await gov.policies.get("t", "p")
    assert await gov.policies.list("t") == [] and len(await gov.policies.versions("t", "p")) == 3
    with pytest.raises(NotFound):
        await gov.policies.get("other", "p")


async def test_usage_sums_minute_buckets_per_agent_and_tenant(gov: Governance, clock: ManualClock) -> None:
    t0 = clock.now()
    await gov.usage.add("t", "a", {"steps": 1, "tokens": 10}, t0)
    await gov.usage.add("t", "b", {"steps": 2}, t0 + timedelta(seconds=30))
    await gov.usage.add("t", "a", {"steps": 1}, t0 + timedelta(minutes=5))
    assert await gov.usage.totals("t", "a", t0) == {"steps": 2, "tokens": 10}
    assert await gov.usage.totals("t", None, t0) == {"steps": 4, "tokens": 10}
    assert await gov.usage.totals("t", "a", t0 + timedelta(minutes=1)) == {"steps": 1}
    assert await gov.usage.totals("other", None, t0) == {}
    assert await gov.usage.prune(t0 + timedelta(minutes=1)) >= 1
    assert await gov.usage.totals("t", "a", t0) == {"steps": 1}


async def test_approvals_park_once_and_decide_once(gov: Governance, clock: ManualClock) -> None:
    now = clock.now()
    a = Approval(id="apr-1", tenant="t", agent_id="a", seq=1, index=0, action="event.emit", effect={"kind": "emit"},
                 policy="p", rule="r", reason="why", requested_at=now, expires_at=now + timedelta(seconds=60))
    assert (await gov.approvals.park(a)).id == "apr-1"
    assert (await gov.approvals.park(a.model_copy(update={"reason": "second"}))).reason == "why"
    assert [x.id for x in await gov.approvals.list("t", status="pending")] == ["apr-1"]
    assert await gov.approvals.due(now) == []
    assert [x.id for x in await gov.approvals.due(now + timedelta(seconds=60))] == ["apr-1"]
    done = await gov.approvals.decide("t", "apr-1", "approved", "op", "ok", now)
    assert done.status.value == "approved" and done.decided_by == "op"
    with pytest.raises(Conflict):
        await gov.approvals.decide("t", "apr-1", "rejected", "op", None, now)
    await gov.approvals.mark_applied("t", "apr-1")
    assert (await gov.approvals.get("t", "apr-1")).applied
    assert await gov.approvals.list("t", status="pending") == []
    with pytest.raises(NotFound):
        await gov.approvals.get("other", "apr-1")
