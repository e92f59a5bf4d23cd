"""Contract of `KeyStore`: unique ids, lookup by hash (revoked or not), idempotent revoke, listing order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aos.adapters.embedded import ManualClock
from aos.errors import Conflict, NotFound
from aos.model import ApiKeyRecord, Role
from aos.ports import Stores

pytestmark = pytest.mark.anyio


def key(key_id: str, clock: ManualClock, tenant: str = "acme", minutes: int = 0) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=key_id,
        tenant=tenant,
        role=Role.OPERATOR,
        secret_hash=f"hash-{key_id}",
        created_at=clock.now() + timedelta(minutes=minutes),
    )


async def test_add_and_find_by_hash(stores: Stores, clock: ManualClock) -> None:
    record = key("k1", clock)
    await stores.keys.add(record)
    assert await stores.keys.by_hash("hash-k1") == record
    assert await stores.keys.by_hash("hash-unknown") is None


async def test_duplicate_id_raises_conflict(stores: Stores, clock: ManualClock) -> None:
    await stores.keys.add(key("k1", clock))
    with pytest.raises(Conflict):
        await stores.keys.add(key("k1", clock, tenant="globex"))


async def test_revoke_stamps_once_and_revoked_keys_are_still_found(
    stores: Stores, clock: ManualClock
) -> None:
    await stores.keys.add(key("k1", clock))
    first = clock.now() + timedelta(hours=1)
    revoked = await stores.keys.revoke("acme", "k1", first)
    assert revoked.revoked_at == first
    again = await stores.keys.revoke("acme", "k1", first + timedelta(hours=1))
    assert again.revoked_at == first
    found = await stores.keys.by_hash("hash-k1")
    assert found is not None and found.revoked_at == first


async def test_revoke_unknown_or_other_tenants_key_raises_not_found(
    stores: Stores, clock: ManualClock
) -> None:
    await stores.keys.add(key("k1", clock))
    with pytest.raises(NotFound):
        await stores.keys.revoke("acme", "nope", clock.now())
    with pytest.raises(NotFound):
        await stores.keys.revoke("globex", "k1", clock.now())
    found = await stores.keys.by_hash("hash-k1")
    assert found is not None and found.revoked_at is None


async def test_list_returns_the_tenants_keys_by_creation_time(stores: Stores, clock: ManualClock) -> None:
    await stores.keys.add(key("k-late", clock, minutes=10))
    await stores.keys.add(key("k-early", clock, minutes=1))
    await stores.keys.add(key("k-other", clock, tenant="globex"))
    await stores.keys.add(key("k-mid", clock, minutes=5))
    assert [r.id for r in await stores.keys.list("acme")] == ["k-early", "k-mid", "k-late"]
    assert await stores.keys.list("initech") == []
