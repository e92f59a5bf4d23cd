"""Governance inside a step: denied effects are journaled and skipped, held effects wait for an approval,
budgets stop a step before it runs, and every step leaves one audit record."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aos.adapters.embedded import ManualClock
from aos.errors import Conflict
from aos.kernel import Kernel
from aos.kernel.approvals import DECIDED_TYPE, REQUESTED_TYPE
from aos.kernel.policy.step import BUDGET_EXCEEDED_TYPE
from aos.model import StepStatus

from .conftest import TENANT, put_policy, spec, to

pytestmark = pytest.mark.anyio
SEND = {"kind": "send", "to": "sink", "type": "note.to.sink", "data": {"amount": 500}}
EMIT = {"kind": "emit", "type": "thing.done", "data": {"ok": True}}
STATE = {"kind": "state", "set": {"done": 1}}


async def setup(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("actor"))
    await kernel.register(TENANT, spec("sink", subscriptions=[{"type": "thing.*"}]))


async def test_a_denied_effect_is_journaled_with_rule_and_reason_and_the_rest_of_the_step_goes_on(
    kernel: Kernel,
) -> None:
    await setup(kernel)
    await put_policy(kernel, "limits", {"rules": [{"id": "big-money", "actions": ["message.send"], "effect": "deny",
                                                   "reason": "no large transfers", "when": {"payload": {
                                                       "amount": {"gt": 100}}}}]})
    await kernel.publish(TENANT, to("actor", SEND, EMIT, STATE))
    assert (await kernel.run_step("acme/actor")).status == "done"  # type: ignore[union-attr]
    [step] = await kernel.steps(TENANT, "actor")
    assert step.decision is not None
    [outcome] = step.decision.outcomes
    assert (outcome.index, outcome.outcome, outcome.policy, outcome.rule, outcome.reason) == (
        0, "denied", "limits", "big-money", "no large transfers")
    sink_mail = await kernel.stores.mailbox.pending("acme/sink")
    assert sink_mail == 1  # the emit reached the subscriber; the denied send did not
    assert (await kernel.agent_state(TENANT, "actor"))[0] == {"done": 1}
    assert kernel.governance is not None
    audit = await kernel.governance.stores.audit.page(TENANT, kind="effect")
    assert [(r.action, r.outcome, r.details["rule"]) for r in audit] == [("message.send", "denied", "big-money")]


async def test_held_effect_is_applied_once_on_approval_and_the_agent_hears_the_outcome(kernel: Kernel) -> None:
    await setup(kernel)
    await kernel.register(TENANT, spec("ops", subscriptions=[{"type": "aos.approval.*"}]))
    await put_policy(kernel, "hitl", {"rules": [{"id": "ask", "actions": ["event.emit"],
                                                 "effect": "require_approval", "reason": "emits need a human"}]})
    await kernel.publish(TENANT, to("actor", EMIT))
    await kernel.run_step("acme/actor")
    assert await kernel.stores.mailbox.pending("acme/sink") == 0
    gov = kernel.governance
    assert gov is not None
    [pending] = await gov.stores.approvals.list(TENANT, status="pending")
    requested = [e for e in await kernel.events(TENANT) if e.event.type == REQUESTED_TYPE]
    assert requested and requested[0].event.data["why"] == "emits need a human"
    assert requested[0].delivered_to == ("acme/ops",) or "ops" in str(requested[0].delivered_to)

    done = await gov.approvals.decide(TENANT, pending.id, True, "key:op")
    assert done.applied and done.status.value == "approved"
    with pytest.raises(Conflict):
        await gov.approvals.decide(TENANT, pending.id, True, "key:op")
    assert await kernel.stores.mailbox.pending("acme/sink") == 1  # applied exactly once
    outcome = [e for e in await kernel.events(TENANT) if e.event.type == DECIDED_TYPE]
    assert outcome[0].event.target == "actor" and outcome[0].event.data["status"] == "approved"
    assert await kernel.stores.mailbox.pending("acme/actor") == 1  # the agent's next step sees it


async def test_rejected_and_timed_out_approvals_drop_the_effect(kernel: Kernel, clock: ManualClock) -> None:
    await setup(kernel)
    await put_policy(kernel, "hitl", {"approval_timeout_s": 60, "rules": [
        {"id": "ask", "actions": ["event.emit", "state.write"], "effect": "require_approval"}]})
    await kernel.publish(TENANT, to("actor", EMIT, STATE))
    await kernel.run_step("acme/actor")
    gov = kernel.governance
    assert gov is not None
    held = await gov.stores.approvals.list(TENANT, status="pending")
    assert len(held) == 2
    state_one = next(a for a in held if a.action == "state.write")
    await gov.approvals.decide(TENANT, state_one.id, False, "key:op", "no")
    clock.advance(timedelta(seconds=61))
    await kernel.tick()
    assert await gov.stores.approvals.list(TENANT, status="pending") == []
    timed_out = await gov.stores.approvals.list(TENANT, status="rejected")
    assert {a.decided_by for a in timed_out} == {"key:op", "timeout"}
    assert await kernel.stores.mailbox.pending("acme/sink") == 0
    assert (await kernel.agent_state(TENANT, "actor"))[0] == {}


async def test_a_retried_step_reuses_the_journaled_verdicts(kernel: Kernel) -> None:
    await setup(kernel)
    await put_policy(kernel, "p", {"rules": [{"id": "no-emit", "actions": ["event.emit"], "effect": "deny"}]})
    await kernel.publish(TENANT, to("actor", EMIT))

    async def crash(where: str) -> None:
        if where == "decided":
            raise RuntimeError("crash after journaling")

    kernel.fault = crash
    with pytest.raises(RuntimeError):
        await kernel.run_step("acme/actor")
    kernel.fault = None
    assert kernel.governance is not None
    await kernel.governance.delete_policy(TENANT, "p", "test")  # the policy changed before the retry
    await kernel.run_step("acme/actor")
    [step] = await kernel.steps(TENANT, "actor")
    assert step.status is StepStatus.DONE and step.decision and step.decision.outcomes[0].rule == "no-emit"
    assert await kernel.stores.mailbox.pending("acme/sink") == 0


async def test_a_used_up_step_budget_stops_the_step_before_it_runs(kernel: Kernel, clock: ManualClock) -> None:
    await setup(kernel)
    await put_policy(kernel, "budget", {"budgets": [{"metric": "steps", "period": "hour", "limit": 1}]})
    await kernel.publish(TENANT, to("actor"))
    assert await kernel.run_step("acme/actor") is not None
    await kernel.publish(TENANT, to("actor"))
    assert await kernel.run_step("acme/actor") is None  # blocked: not claimed
    assert await kernel.stores.mailbox.pending("acme/actor") == 1
    exceeded = [e for e in await kernel.events(TENANT) if e.event.type == BUDGET_EXCEEDED_TYPE]
    assert len(exceeded) == 1 and exceeded[0].event.data["metric"] == "steps"
    store = kernel.stores.context
    if store is not None:
        page = await store.page("acme/actor", kinds=["budget"])
        assert "steps budget" in page.entries[0].text
    assert await kernel.run_step("acme/actor") is None
    assert len([e for e in await kernel.events(TENANT) if e.event.type == BUDGET_EXCEEDED_TYPE]) == 1
    clock.advance(timedelta(hours=1))
    assert await kernel.run_step("acme/actor") is not None  # the period turned


async def test_model_call_budget_is_checked_before_the_call(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("thinker", entry="calls_model"))
    await put_policy(kernel, "budget", {"budgets": [{"metric": "model_calls", "period": "day", "limit": 1}]})
    await kernel.publish(TENANT, to("thinker"))
    outcome = await kernel.run_step("acme/thinker")
    assert outcome is not None and outcome.status == "failed" and "model_calls budget" in (outcome.error or "")


async def test_messages_budget_denies_the_effect_over_the_limit(kernel: Kernel) -> None:
    await setup(kernel)
    await put_policy(kernel, "budget", {"budgets": [{"metric": "messages", "period": "minute", "limit": 1}]})
    await kernel.publish(TENANT, to("actor", SEND, SEND))
    await kernel.run_step("acme/actor")
    [step] = await kernel.steps(TENANT, "actor")
    assert step.decision and [o.index for o in step.decision.outcomes] == [1]
    assert step.decision.outcomes[0].rule == "budget:messages"
    assert kernel.governance is not None
    usage = await kernel.governance.stores.usage.totals(TENANT, "actor", kernel.stores.clock.now())
    assert usage["messages"] == 1 and usage["steps"] == 1


async def test_lifecycle_changes_and_steps_are_audited_and_the_chain_verifies(kernel: Kernel) -> None:
    await setup(kernel)
    await kernel.suspend(TENANT, "actor")
    await kernel.resume(TENANT, "actor")
    await kernel.publish(TENANT, to("actor", EMIT))
    await kernel.run_step("acme/actor")
    assert kernel.governance is not None
    records = await kernel.governance.stores.audit.scan(TENANT)
    assert [r.action for r in records] == ["agent.activate", "agent.activate", "agent.suspend", "agent.resume",
                                           "agent.step"]
    assert (await kernel.governance.auditor.verify(TENANT)).ok


async def test_a_denied_note_never_reaches_the_context_and_the_agent_reads_why(stores: object) -> None:
    from aos.brains import Brains
    from aos.config import Config
    from aos.kernel import NoNotifier
    from aos.runtime.system import context_provider

    b = Brains(Config())
    kernel = Kernel(stores, b, context=context_provider(stores), notifier=NoNotifier())  # type: ignore[arg-type]
    try:
        await kernel.register(TENANT, spec("actor"))
        await put_policy(kernel, "quiet", {"rules": [{"id": "no-notes", "actions": ["context.write"],
                                                      "effect": "deny", "reason": "notes are off"}]})
        await kernel.publish(TENANT, to("actor", {"kind": "note", "text": "SECRET PLAN"}))
        await kernel.run_step("acme/actor")
        page = await kernel.stores.context.page("acme/actor", kinds=["note"])  # type: ignore[union-attr]
        assert [e.text for e in page.entries] == ["[note denied: notes are off]"]
    finally:
        await b.aclose()
