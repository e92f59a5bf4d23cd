"""Contract of `AgentRegistry`, run against every backend (see conftest.BACKENDS)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aos.adapters.embedded import ManualClock
from aos.errors import AgentExists, AgentNotFound, ValidationFailed, VersionConflict
from aos.model import AgentRecord, AgentSpec, AgentState, BrainSpec, Subscription
from aos.ports import Stores

pytestmark = pytest.mark.anyio


def record(
    agent_id: str,
    tenant: str = "acme",
    *,
    subs: tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
    state: AgentState = AgentState.REGISTERED,
) -> AgentRecord:
    spec = AgentSpec(
        id=agent_id,
        brain=BrainSpec(kind="python"),
        subscriptions=[Subscription(type=t) for t in subs],
        labels=labels or {},
    )
    return AgentRecord(tenant=tenant, spec=spec, state=state)


async def test_create_stores_version_one_and_get_returns_it(stores: Stores) -> None:
    created = await stores.registry.create(record("alpha", labels={"team": "ops"}))
    assert created.version == 1
    got = await stores.registry.get("acme", "alpha")
    assert got == created
    assert got.spec.labels == {"team": "ops"}


async def test_create_twice_raises_agent_exists_whatever_the_state(stores: Stores) -> None:
    created = await stores.registry.create(record("alpha"))
    created.state = AgentState.RETIRED
    await stores.registry.update(created)
    with pytest.raises(AgentExists):
        await stores.registry.create(record("alpha"))


async def test_same_id_in_another_tenant_is_another_agent(stores: Stores) -> None:
    await stores.registry.create(record("alpha", "acme"))
    await stores.registry.create(record("alpha", "globex"))
    assert await stores.registry.count() == 2
    with pytest.raises(AgentNotFound):
        await stores.registry.get("initech", "alpha")


async def test_get_missing_raises_agent_not_found(stores: Stores) -> None:
    with pytest.raises(AgentNotFound):
        await stores.registry.get("acme", "nobody")


async def test_update_is_compare_and_set_on_version(stores: Stores) -> None:
    created = await stores.registry.create(record("alpha"))
    created.state = AgentState.ACTIVE
    updated = await stores.registry.update(created)
    assert updated.version == 2
    assert (await stores.registry.get("acme", "alpha")).state == AgentState.ACTIVE

    stale = created.model_copy(update={"state": AgentState.SUSPENDED})  # still version 1
    with pytest.raises(VersionConflict):
        await stores.registry.update(stale)
    assert (await stores.registry.get("acme", "alpha")).version == 2


async def test_update_of_missing_agent_raises_agent_not_found(stores: Stores) -> None:
    with pytest.raises(AgentNotFound):
        await stores.registry.update(record("ghost").model_copy(update={"version": 1}))


async def test_returned_records_are_copies(stores: Stores) -> None:
    created = await stores.registry.create(record("alpha"))
    created.state = AgentState.FAILED  # mutate without update
    assert (await stores.registry.get("acme", "alpha")).state == AgentState.REGISTERED


async def test_delete_reports_whether_it_existed(stores: Stores) -> None:
    await stores.registry.create(record("alpha", subs=("a.b",)))
    assert await stores.registry.delete("acme", "alpha") is True
    assert await stores.registry.delete("acme", "alpha") is False
    with pytest.raises(AgentNotFound):
        await stores.registry.get("acme", "alpha")
    assert await stores.registry.subscribers("acme", "a.b") == []
    await stores.registry.create(record("alpha"))  # the id is free again


async def test_list_pages_by_id_and_every_record_appears_once(stores: Stores) -> None:
    ids = [f"agent-{i:03d}" for i in range(23)]
    for agent_id in reversed(ids):
        await stores.registry.create(record(agent_id))
    await stores.registry.create(record("agent-999", "globex"))
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page, cursor = await stores.registry.list("acme", limit=5, cursor=cursor)
        pages += 1
        seen += [r.id for r in page]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 5  # 5+5+5+5+3: the last full page is not followed by an empty one


async def test_list_exact_multiple_has_no_trailing_cursor(stores: Stores) -> None:
    for i in range(4):
        await stores.registry.create(record(f"agent-{i}"))
    page, cursor = await stores.registry.list("acme", limit=2)
    assert len(page) == 2 and cursor is not None
    page, cursor = await stores.registry.list("acme", limit=2, cursor=cursor)
    assert [r.id for r in page] == ["agent-2", "agent-3"] and cursor is None


async def test_list_filters_state_and_all_labels_across_pages(stores: Stores) -> None:
    for i in range(30):
        labels = {"team": "ops" if i % 3 == 0 else "dev", "tier": "gold" if i % 2 == 0 else "silver"}
        state = AgentState.ACTIVE if i % 5 else AgentState.SUSPENDED
        await stores.registry.create(record(f"agent-{i:02d}", labels=labels, state=state))
    expected = [f"agent-{i:02d}" for i in range(30) if i % 3 == 0 and i % 2 == 0 and i % 5]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = await stores.registry.list(
            "acme", state=AgentState.ACTIVE, labels={"team": "ops", "tier": "gold"}, limit=2, cursor=cursor
        )
        assert page or cursor is None
        seen += [r.id for r in page]
        if cursor is None:
            break
    assert seen == expected


async def test_list_rejects_a_forged_cursor(stores: Stores) -> None:
    with pytest.raises(ValidationFailed):
        await stores.registry.list("acme", cursor="%%%not-base64%%%")


async def test_subscribers_match_exact_prefix_glob_and_star(stores: Stores) -> None:
    await stores.registry.create(record("exact", subs=("ticket.created",)))
    await stores.registry.create(record("prefix", subs=("ticket.*",)))
    await stores.registry.create(record("deep", subs=("ticket.created.*",)))
    await stores.registry.create(record("star", subs=("*",)))
    await stores.registry.create(record("other", subs=("invoice.*", "ticket")))
    await stores.registry.create(record("outsider", "globex", subs=("*",)))

    async def ids(event_type: str) -> list[str]:
        return [r.id for r in await stores.registry.subscribers("acme", event_type)]

    assert await ids("ticket.created") == ["exact", "prefix", "star"]
    assert await ids("ticket.created.v2") == ["deep", "prefix", "star"]
    assert await ids("ticket") == ["other", "star"]  # `ticket.*` does not match `ticket` itself
    assert await ids("tickets.x") == ["star"]  # a glob is a segment prefix, not a string prefix
    assert await ids("invoice.paid") == ["other", "star"]


async def test_subscribers_follow_updates_and_return_any_state(stores: Stores) -> None:
    created = await stores.registry.create(record("alpha", subs=("a.*", "a.*")))
    created.spec = created.spec.model_copy(update={"subscriptions": [Subscription(type="b.x")]})
    created.state = AgentState.SUSPENDED
    await stores.registry.update(created)
    assert await stores.registry.subscribers("acme", "a.x") == []
    found = await stores.registry.subscribers("acme", "b.x")
    assert [(r.id, r.state) for r in found] == [("alpha", AgentState.SUSPENDED)]


async def test_due_returns_active_records_oldest_first_up_to_limit(
    stores: Stores, clock: ManualClock
) -> None:
    now = clock.now()
    wakes = {"late": 30, "early": 10, "middle": 20, "future": -60}
    for agent_id, ago in wakes.items():
        r = record(agent_id, state=AgentState.ACTIVE)
        r.next_wake_at = now - timedelta(seconds=ago)
        await stores.registry.create(r)
    sleeping = record("paused", "globex", state=AgentState.SUSPENDED)
    sleeping.next_wake_at = now - timedelta(hours=1)
    await stores.registry.create(sleeping)
    other = record("other", "globex", state=AgentState.ACTIVE)
    other.next_wake_at = now
    await stores.registry.create(other)
    await stores.registry.create(record("never", state=AgentState.ACTIVE))

    assert [r.id for r in await stores.registry.due(now)] == ["late", "middle", "early", "other"]
    assert [r.id for r in await stores.registry.due(now, limit=2)] == ["late", "middle"]
    assert await stores.registry.due(now - timedelta(days=1)) == []


async def test_count_counts_every_tenant(stores: Stores) -> None:
    assert await stores.registry.count() == 0
    await stores.registry.create(record("alpha", "acme"))
    await stores.registry.create(record("beta", "globex"))
    assert await stores.registry.count() == 2
