from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aos.adapters.embedded import open_sqlite
from aos.brains import Brains
from aos.config import Config
from aos.errors import AgentNotFound
from aos.kernel import Kernel, KernelOptions, Notifier

from .conftest import TENANT, drain, event, spec

pytestmark = pytest.mark.anyio


async def test_routing_by_type_pattern_source_and_subject(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("exact", subscriptions=[{"type": "order.created"}]))
    await kernel.register(TENANT, spec("glob", subscriptions=[{"type": "order.*"}]))
    await kernel.register(TENANT, spec("everything", subscriptions=[{"type": "*"}]))
    await kernel.register(TENANT, spec("from-shop", subscriptions=[{"type": "order.*", "source": "shop/*"}]))
    await kernel.register(TENANT, spec("eu-only", subscriptions=[{"type": "*", "subject": "eu"}]))
    await kernel.register(TENANT, spec("deaf"))

    got = await kernel.publish(TENANT, event("order.created", source="shop/web", subject="eu"))
    assert sorted(got.delivered_to) == ["eu-only", "everything", "exact", "from-shop", "glob"]
    got = await kernel.publish(TENANT, event("order.paid", source="bank"))
    assert sorted(got.delivered_to) == ["everything", "glob"]
    got = await kernel.publish(TENANT, event("order", source="bank"))
    assert sorted(got.delivered_to) == ["everything"]


async def test_explicit_target_must_exist(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("deaf"))
    got = await kernel.publish(TENANT, event(aostarget="deaf"))
    assert got.delivered_to == ("deaf",)
    with pytest.raises(AgentNotFound):
        await kernel.publish(TENANT, event(aostarget="ghost"))


async def test_tenants_never_see_each_other(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", subscriptions=[{"type": "*"}]))
    await kernel.register("other", spec("alpha", subscriptions=[{"type": "*"}]))
    got = await kernel.publish("other", event())
    assert got.delivered_to == ("alpha",)
    assert await kernel.stores.mailbox.pending(f"{TENANT}/alpha") == 0
    assert await kernel.stores.mailbox.pending("other/alpha") == 1
    with pytest.raises(AgentNotFound):
        await kernel.publish("third", event(aostarget="alpha"))


async def test_same_event_id_is_accepted_once(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", subscriptions=[{"type": "*"}]))
    first = await kernel.publish(TENANT, event(id="evt-1"))
    second = await kernel.publish(TENANT, event(id="evt-1", data={"different": True}))
    assert not first.duplicate and second.duplicate
    assert await kernel.stores.mailbox.pending(f"{TENANT}/alpha") == 1
    assert await drain(kernel, f"{TENANT}/alpha") == 1
    third = await kernel.publish(TENANT, event(id="evt-1"))  # even after processing
    assert third.duplicate
    assert await drain(kernel, f"{TENANT}/alpha") == 0
    assert len(await kernel.events(TENANT)) == 1


async def test_an_agent_does_not_wake_itself_with_its_own_emission(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", entry="forward", subscriptions=[{"type": "*"}]))
    await kernel.register(TENANT, spec("sink", subscriptions=[{"type": "forwarded"}]))
    await kernel.publish(TENANT, event())
    assert await drain(kernel, f"{TENANT}/alpha") == 1
    assert await kernel.stores.mailbox.pending(f"{TENANT}/alpha") == 0
    assert await kernel.stores.mailbox.pending(f"{TENANT}/sink") == 1


class _StepsAtOnce(Notifier):
    """An in-process notifier (like the embedded host's ready queue): `notify` starts the step and returns."""

    def __init__(self, in_process: bool) -> None:
        self.in_process = in_process
        self.kernel: Kernel | None = None
        self.steps: list[asyncio.Task[Any]] = []

    async def notify(self, key: str) -> None:
        assert self.kernel is not None
        self.steps.append(asyncio.ensure_future(self.kernel.run_step(key)))


async def _commits_for_one_event(tmp_path: Path, in_process: bool) -> int:
    """Commits from publishing one event to its agent's finished step, the agent woken as `in_process` says."""
    stores, brains = await open_sqlite(tmp_path), Brains(Config())
    notifier = _StepsAtOnce(in_process)
    # as the embedded host runs it: records cached, so a step reads no record before its claim
    kernel = notifier.kernel = Kernel(stores, brains, notifier=notifier, options=KernelOptions(record_cache_size=10))
    try:
        await kernel.register(TENANT, spec("alpha", subscriptions=[{"type": "*"}]))
        await kernel.run_step(f"{TENANT}/alpha")  # warm: policies and budgets read once
        db = stores.mailbox._db  # type: ignore[attr-defined]
        before = db.commits
        await kernel.publish(TENANT, event())
        [outcome] = await asyncio.gather(*notifier.steps)
        assert outcome is not None and outcome.status == "done" and outcome.events == 1
        used = db.commits - before
        assert not (await kernel.publish(TENANT, event(id="dup-1"))).duplicate
        assert (await asyncio.gather(*notifier.steps[1:]))[0] is not None
        del notifier.steps[:]
        assert (await kernel.publish(TENANT, event(id="dup-1"))).duplicate
        # woken first, a duplicate wakes its agent for nothing: the claim finds no new mail
        assert [await step for step in notifier.steps] == ([None] if in_process else [])
        return used
    finally:
        await brains.aclose()
        await stores.close()


async def test_an_in_process_wake_lets_the_claim_share_the_deliverys_commit(tmp_path: Path) -> None:
    woken_after = await _commits_for_one_event(tmp_path / "after", in_process=False)
    woken_first = await _commits_for_one_event(tmp_path / "first", in_process=True)
    assert woken_first == woken_after - 1, (woken_first, woken_after)
