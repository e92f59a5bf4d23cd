"""No fake success: a brain that cannot decide fails the step visibly, and repeated failure fails the agent."""

from __future__ import annotations

from typing import Any

import pytest

from aos.brains import Brains
from aos.config import Config
from aos.errors import InvalidTransition
from aos.kernel import Kernel, KernelOptions, NoNotifier
from aos.model import AgentState, StepStatus
from aos.ports import Stores
from tests.unit.kernel import brains_for_tests

from .conftest import TENANT, drain, event, spec

pytestmark = pytest.mark.anyio


async def test_a_raising_brain_dead_letters_the_events_with_the_reason(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", entry="explode", subscriptions=[{"type": "*"}]))
    await kernel.publish(TENANT, event("order.created"))
    outcome = await kernel.run_step(f"{TENANT}/alpha")
    assert outcome is not None and outcome.status == "failed"
    assert "RuntimeError: boom: cannot handle order.created" in (outcome.error or "")
    [step] = await kernel.steps(TENANT, "alpha")
    assert step.status is StepStatus.FAILED and step.decision is None
    assert [e.type for e in step.events] == ["order.created"]
    assert await kernel.stores.mailbox.pending(f"{TENANT}/alpha") == 0
    record = await kernel.get(TENANT, "alpha")
    assert record.state is AgentState.ACTIVE and record.failures == 1 and "boom" in (record.failure or "")


async def test_effects_that_cannot_be_stored_fail_the_step_at_once_with_the_reason(kernel: Kernel) -> None:
    # they used to fail at journaling as if storage were down: retried until max_attempts, then "did not finish"
    await kernel.register(TENANT, spec("alpha", entry="unstorable", subscriptions=[{"type": "*"}]))
    await kernel.publish(TENANT, event("order.created"))
    outcome = await kernel.run_step(f"{TENANT}/alpha")
    assert outcome is not None and outcome.status == "failed" and outcome.attempts == 1
    assert "returned effects that cannot be stored as JSON" in (outcome.error or "")
    [step] = await kernel.steps(TENANT, "alpha")
    assert step.status is StepStatus.FAILED and step.decision is None
    assert await kernel.events(TENANT, type_prefix="report.") == []


async def test_a_brain_calling_sys_exit_fails_its_step_and_the_host_stays_up(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", entry="leave", subscriptions=[{"type": "*"}]))
    await kernel.publish(TENANT, event("order.created"))
    outcome = await kernel.run_step(f"{TENANT}/alpha")  # SystemExit used to end the process (every agent)
    assert outcome is not None and outcome.status == "failed"
    assert "called sys.exit(3)" in (outcome.error or "")


async def test_consecutive_failures_fail_the_agent_and_resume_restarts_it(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", entry="explode", limits={"max_events_per_step": 1},
                                       subscriptions=[{"type": "*"}]))
    for _ in range(4):
        await kernel.publish(TENANT, event())
    assert await drain(kernel, f"{TENANT}/alpha") == 3
    record = await kernel.get(TENANT, "alpha")
    assert record.state is AgentState.FAILED and "3 consecutive failed steps" in (record.failure or "")
    assert await kernel.stores.mailbox.pending(f"{TENANT}/alpha") == 1  # kept for after the restart
    resumed = await kernel.resume(TENANT, "alpha")
    assert resumed.state is AgentState.ACTIVE and resumed.restarts == 1 and resumed.failures == 0
    with pytest.raises(InvalidTransition):
        await kernel.resume(TENANT, "alpha")


async def test_a_brain_that_hangs_is_stopped_at_the_step_timeout(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", entry="hang", limits={"step_timeout_s": 0.05},
                                       subscriptions=[{"type": "*"}]))
    await kernel.publish(TENANT, event())
    outcome = await kernel.run_step(f"{TENANT}/alpha")
    assert outcome is not None and outcome.status == "failed"
    assert "did not decide within 0.05s" in (outcome.error or "")


async def test_a_step_that_never_finishes_is_given_up_after_max_attempts(stores: Stores) -> None:
    kernel = Kernel(stores, Brains(Config()), notifier=NoNotifier(), options=KernelOptions(max_attempts=2))
    await kernel.register(TENANT, spec("alpha", entry="forward", subscriptions=[{"type": "*"}]))
    await kernel.register(TENANT, spec("sink"))
    await kernel.publish(TENANT, event())

    async def storage_down(where: str) -> None:
        raise OSError("disk unplugged")

    kernel.fault = storage_down
    for _ in range(2):
        with pytest.raises(OSError):
            await kernel.run_step(f"{TENANT}/alpha")
    kernel.fault = None
    outcome = await kernel.run_step(f"{TENANT}/alpha")
    assert outcome is not None and outcome.status == "failed" and "gave up after 2 attempts" in (outcome.error or "")
    assert brains_for_tests.CALLS["alpha"] == 1


async def test_a_message_to_an_unknown_agent_comes_back_as_undeliverable(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", entry="forward", subscriptions=[{"type": "thing.*"}]))
    await kernel.publish(TENANT, event())  # forward() sends to `sink`, which does not exist
    outcome = await kernel.run_step(f"{TENANT}/alpha")
    assert outcome is not None and outcome.status == "done"
    claim = await kernel.stores.mailbox.begin_step(f"{TENANT}/alpha", "alpha", 10)
    assert claim is not None
    [bounce] = claim.events
    assert bounce.type == "aos.undeliverable" and "sink" in bounce.data["reason"]


async def test_a_steps_emissions_are_delivered_together_with_an_unknown_target_bounced_in_place(
    kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    await kernel.register(TENANT, spec("alpha", entry="fan_out", subscriptions=[{"type": "thing.*"}]))
    await kernel.register(TENANT, spec("sink"))
    await kernel.publish(TENANT, event())
    calls: list[list[str]] = []
    deliver_many = kernel.stores.mailbox.deliver_many

    async def spy(tenant: str, items: Any) -> Any:
        calls.append([e.type for e, _ in items])
        return await deliver_many(tenant, items)

    monkeypatch.setattr(kernel.stores.mailbox, "deliver_many", spy)
    outcome = await kernel.run_step(f"{TENANT}/alpha")
    assert outcome is not None and outcome.status == "done" and outcome.effects == 3
    assert calls == [["fanned", "aos.undeliverable", "fanned"]]  # one delivery for the step's three events
    sink = await kernel.stores.mailbox.begin_step(f"{TENANT}/sink", "sink", 10)
    assert sink is not None and [e.data["n"] for e in sink.events] == [0, 2]
    bounce = await kernel.stores.mailbox.begin_step(f"{TENANT}/alpha", "alpha", 10)
    assert bounce is not None and [e.type for e in bounce.events] == ["aos.undeliverable"]
    assert "nobody" in bounce.events[0].data["reason"]
