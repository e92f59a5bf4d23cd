from __future__ import annotations

import pytest

from aos.errors import AgentNotFound
from aos.kernel import Kernel

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
