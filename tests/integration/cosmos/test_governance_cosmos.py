"""The Cosmos audit chain beyond the shared contract: several instances appending at once, an append that stops
between its records and its head (the emulator's fallback order), tampering with the stored items, and the
real-Cosmos transactional batch (an emulator gap: strict xfail here, covered with a fake in
tests/unit/adapters/test_cosmos_audit.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aos.adapters.azure.cosmos import Cosmos, SdkCosmosApi
from aos.adapters.azure.cosmos.governance import CosmosAuditLog
from aos.adapters.azure.cosmos.keys import AUDIT, audit_record_id
from aos.adapters.embedded import ManualClock
from aos.kernel.audit import Auditor
from tests.emulators.cosmos import drop_database, open_test_cosmos

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def auditor(cosmos: Cosmos) -> Auditor:
    return Auditor(CosmosAuditLog(cosmos), ManualClock())


async def fill(a: Auditor, n: int, tenant: str = "acme") -> None:
    for i in range(n):
        await a.append(tenant, [a.entry("call", f"agents.get.{i}", actor="key:k", n=i)])


async def test_instances_appending_at_once_never_fork_the_chain(cosmos: Cosmos) -> None:
    """Each instance has its own in-process lock, so only the store keeps them from forking."""
    instances = [auditor(cosmos) for _ in range(4)]
    await asyncio.gather(*(a.append("acme", [a.entry("call", f"x.{i}.{j}") for j in range(3)])
                           for i, a in enumerate(instances) for _ in range(3)))
    result = await instances[0].verify("acme")
    assert (result.ok, result.records, result.head_seq) == (True, 36, 36), result.first_broken


class _StopsBeforeHead(CosmosAuditLog):
    async def _move_head(self, tenant: str, seq: int, hash_: str) -> None:
        raise RuntimeError("crash between the records and the head")


async def test_a_crash_between_records_and_head_is_reported_then_healed_by_the_next_append(cosmos: Cosmos) -> None:
    a = auditor(cosmos)
    await fill(a, 3)
    crashing = Auditor(_StopsBeforeHead(cosmos), ManualClock())
    with pytest.raises(RuntimeError):
        await crashing.append("acme", [a.entry("call", "lost.head.1"), a.entry("call", "lost.head.2")])
    result = await a.verify("acme")
    assert not result.ok and result.first_broken is not None and result.head_seq == 3
    assert result.first_broken.seq == 4 and "past the head" in result.first_broken.reason
    assert "removed" not in result.first_broken.reason
    await fill(a, 1)
    healed = await a.verify("acme")
    assert (healed.ok, healed.records, healed.head_seq) == (True, 6, 6)


async def test_tampering_with_the_stored_items_is_detected(cosmos: Cosmos) -> None:
    a = auditor(cosmos)
    await fill(a, 5)
    doc = await cosmos.read(AUDIT, audit_record_id(2), "acme")
    assert doc is not None
    await cosmos.replace(AUDIT, {**{k: v for k, v in doc.items() if not k.startswith("_")},
                                 "details": {"n": 99}}, None)
    altered = (await a.verify("acme")).first_broken
    assert altered is not None and altered.seq == 2 and "altered" in altered.reason
    await cosmos.delete(AUDIT, audit_record_id(3), "acme")
    await cosmos.replace(AUDIT, {k: v for k, v in doc.items() if not k.startswith("_")}, None)  # undo record 2
    removed = (await a.verify("acme")).first_broken
    assert removed is not None and removed.seq == 3 and "missing" in removed.reason
    b = auditor(cosmos)
    await fill(b, 4, tenant="t2")
    await cosmos.delete(AUDIT, audit_record_id(4), "t2")
    cut = (await b.verify("t2")).first_broken
    assert cut is not None and cut.seq == 4 and "removed from the end" in cut.reason


class _BatchOn(SdkCosmosApi):
    @property
    def supports_batch(self) -> bool:
        return True


@pytest.fixture
async def batch_mode(cosmos_endpoint: str) -> AsyncIterator[Cosmos]:
    opened = await open_test_cosmos(cosmos_endpoint)
    opened.api.__class__ = _BatchOn
    try:
        yield opened
    finally:
        await drop_database(opened)
        await opened.close()


@pytest.mark.emulator_gap("no usable transactional batch: the head and the records cannot commit together")
async def test_on_real_cosmos_head_and_records_commit_in_one_batch(batch_mode: Cosmos) -> None:
    a = auditor(batch_mode)
    await fill(a, 3)
    assert (await a.verify("acme")).ok
