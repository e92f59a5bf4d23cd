from __future__ import annotations

import pytest

from aos.errors import (
    AgentExists,
    AgentNotFound,
    Conflict,
    InvalidTransition,
    NotConfigured,
    ValidationFailed,
)
from aos.kernel import Kernel
from aos.model import AgentSpec, AgentState

from .conftest import TENANT, drain, event, spec

pytestmark = pytest.mark.anyio


async def test_register_activates_and_refuses_duplicates(kernel: Kernel) -> None:
    record = await kernel.register(TENANT, spec("alpha"))
    assert record.state is AgentState.ACTIVE and record.version >= 1
    with pytest.raises(AgentExists):
        await kernel.register(TENANT, spec("alpha"))
    other_tenant = await kernel.register("other", spec("alpha"))
    assert other_tenant.tenant == "other"


async def test_a_brain_that_cannot_load_is_refused_and_leaves_nothing(kernel: Kernel) -> None:
    with pytest.raises(ValidationFailed, match="cannot load"):
        await kernel.register(TENANT, spec("broken", entry="missing_function"))
    with pytest.raises(ValidationFailed, match="not callable"):
        await kernel.register(TENANT, spec("broken", entry="not_callable"))
    with pytest.raises(AgentNotFound):
        await kernel.get(TENANT, "broken")


async def test_openai_brain_without_configuration_says_what_to_set(kernel: Kernel) -> None:
    bad = AgentSpec.model_validate({"id": "thinker", "brain": {"kind": "openai"}})
    with pytest.raises(NotConfigured, match="AOS_OPENAI_BASE_URL"):
        await kernel.register(TENANT, bad)
    with pytest.raises(AgentNotFound):
        await kernel.get(TENANT, "thinker")


async def test_suspended_agent_keeps_mail_and_processes_it_on_resume(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", subscriptions=[{"type": "thing.*"}]))
    await kernel.suspend(TENANT, "alpha")
    await kernel.publish(TENANT, event())
    assert await drain(kernel, f"{TENANT}/alpha") == 0
    assert await kernel.stores.mailbox.pending(f"{TENANT}/alpha") == 1
    await kernel.resume(TENANT, "alpha")
    assert f"{TENANT}/alpha" in kernel.notifier.notified  # type: ignore[attr-defined]
    assert await drain(kernel, f"{TENANT}/alpha") == 1
    assert await kernel.stores.mailbox.pending(f"{TENANT}/alpha") == 0


async def test_invalid_transitions_are_conflicts(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha"))
    with pytest.raises(InvalidTransition, match="cannot resume agent 'alpha' while it is active"):
        await kernel.resume(TENANT, "alpha")
    await kernel.suspend(TENANT, "alpha")
    with pytest.raises(InvalidTransition):
        await kernel.suspend(TENANT, "alpha")
    await kernel.retire(TENANT, "alpha")
    with pytest.raises(InvalidTransition):
        await kernel.resume(TENANT, "alpha")
    with pytest.raises(Conflict, match="already retired"):
        await kernel.retire(TENANT, "alpha")


async def test_retire_keeps_the_id_and_purge_removes_everything(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", entry="forward", subscriptions=[{"type": "*"}]))
    await kernel.register(TENANT, spec("sink"))
    await kernel.publish(TENANT, event(data={"n": 1}))
    await drain(kernel, f"{TENANT}/alpha")
    await kernel.publish(TENANT, event(data={"n": 2}))  # still pending when retired
    retired = await kernel.retire(TENANT, "alpha")
    assert retired["state"] == "retired"
    with pytest.raises(AgentExists):
        await kernel.register(TENANT, spec("alpha"))
    assert (await kernel.get(TENANT, "alpha")).state is AgentState.RETIRED
    purged = await kernel.retire(TENANT, "alpha", purge=True)
    assert purged["purged"] is True
    assert purged["removed"]["mailbox_rows"] >= 2 and purged["removed"]["state"] == 1
    with pytest.raises(AgentNotFound):
        await kernel.get(TENANT, "alpha")
    assert await kernel.stores.state.get(f"{TENANT}/alpha") == ({}, 0)
    again = await kernel.register(TENANT, spec("alpha"))
    assert again.state is AgentState.ACTIVE


async def test_retired_agents_receive_nothing(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", subscriptions=[{"type": "*"}]))
    await kernel.retire(TENANT, "alpha")
    published = await kernel.publish(TENANT, event())
    assert published.delivered_to == ()
    with pytest.raises(Conflict, match="retired"):
        await kernel.publish(TENANT, event(aostarget="alpha"))
