"""Governance of one step: budgets before it starts, a guard for the brain's model and tool calls, a review
of the decision's effects before it is journaled, and one audit append + one usage update when it ends.

Why review before journaling: the verdicts become part of the journaled decision (`Decision.outcomes`), so
a retried step applies exactly what the first attempt allowed, even if a policy changed in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from aos.errors import BudgetExceeded, PolicyDenied
from aos.governance_model import Verdict
from aos.kernel.budget import Exceeded, Usage
from aos.kernel.effects import effect_event
from aos.kernel.policy.engine import Decided, PolicySet
from aos.model import (
    AgentRecord,
    Decision,
    EffectOutcome,
    EmitEffect,
    Event,
    NoteEffect,
    SendEffect,
    StateEffect,
)

if TYPE_CHECKING:
    from aos.kernel.policy.governor import Governor

BUDGET_EXCEEDED_TYPE = "aos.budget.exceeded"


def effect_action(effect: Any) -> str:
    if isinstance(effect, SendEffect):
        return "message.send"
    if isinstance(effect, EmitEffect):
        return "event.emit"
    if isinstance(effect, StateEffect):
        return "state.write"
    return "context.write"


class StepGovernance:
    def __init__(self, gov: Governor, record: AgentRecord, policies: PolicySet, usage: Usage) -> None:
        self.gov, self.record, self.policies, self.usage = gov, record, policies, usage
        self._labels = dict(record.spec.labels) if policies.needs_labels else None

    def _decide(self, action: str, **facts: Any) -> Decided:
        if self.policies.empty:
            return self.policies.default
        return self.policies.decide(self.gov.input(action, "agent", agent_id=self.record.id, labels=self._labels,
                                                   **facts))

    async def blocked(self) -> Exceeded | None:
        """A budget already used up: the step must not start. Tells the agent and the operators once."""
        if not self.usage.budgets:
            return None
        # steps always; model budgets only for brains that call models. Messages, events and tool calls are
        # checked one by one (a step that sends nothing is not stopped by a used-up messages budget).
        metrics = ("steps", "model_calls", "tokens") if self.record.spec.brain.kind == "openai" else ("steps",)
        exceeded = await self.usage.exhausted(metrics)
        if exceeded is not None:
            await self.report(exceeded)
        return exceeded

    async def report(self, exceeded: Exceeded) -> None:
        rec, window = self.record, exceeded.window.strftime("%Y%m%dT%H%M")
        tag = f"{exceeded.metric}-{exceeded.period}-{exceeded.per}-{window}"
        event = Event.model_validate({
            "id": f"budget:{rec.id}:{rec.incarnation}:{tag}", "source": "aos://kernel",
            "type": BUDGET_EXCEEDED_TYPE, "subject": rec.id,
            "data": {"agent": rec.id, "policy": exceeded.policy, "metric": exceeded.metric,
                     "period": exceeded.period, "per": exceeded.per, "limit": exceeded.limit,
                     "used": exceeded.used, "refill": exceeded.refill.isoformat(), "reason": exceeded.reason}})
        published = await self.gov.kernel.publish(rec.tenant, event, sender=rec.id)
        if published.duplicate:
            return
        store = self.gov.kernel.stores.context
        if store is not None:
            from aos.ports import NewEntry

            await store.append(rec.key, [NewEntry("budget", exceeded.reason, data=event.data, id=f"budget-{tag}")])
        await self.gov.record(rec.tenant, [self.gov.entry("budget", BUDGET_EXCEEDED_TYPE, actor="kernel",
                                                          agent_id=rec.id, outcome="blocked", **event.data)])

    async def guard(self, action: str, *, tokens: int = 0, **facts: Any) -> None:
        """Called by a brain before a model call (`model.call`) or a tool call (`tool.call:NAME`)."""
        decided = self._decide(action, **facts)
        if decided.verdict is not Verdict.ALLOW:
            raise PolicyDenied(action, decided.policy, decided.rule, decided.reason)
        metric = "model_calls" if action == "model.call" else "tool_calls"
        exceeded = await self.usage.check(metric)
        if exceeded is None and action == "model.call":
            exceeded = await self.usage.check("tokens", tokens + 1)
        if exceeded is not None:
            await self.report(exceeded)
            raise BudgetExceeded(f"{action} stopped before the call: {exceeded.reason}", metric=exceeded.metric)
        self.usage.add(metric)  # later checks in this step see it (the durable count is written at the end)

    async def review(self, seq: int, decision: Decision) -> Decision:
        """Decide every effect; return the decision with the denied/held ones in `outcomes`."""
        outcomes: list[EffectOutcome] = []
        for index, effect in enumerate(decision.effects):
            action = effect_action(effect)
            decided = self._decide(action, **_facts(effect))
            if decided.verdict is Verdict.DENY:
                outcomes.append(EffectOutcome(index=index, action=action, outcome="denied", policy=decided.policy,
                                              rule=decided.rule, reason=decided.reason))
                continue
            metric = {"message.send": "messages", "event.emit": "events"}.get(action)
            exceeded = await self.usage.check(metric) if metric else None
            if exceeded is not None:
                outcomes.append(EffectOutcome(index=index, action=action, outcome="denied",
                                              policy=exceeded.policy, rule=f"budget:{metric}",
                                              reason=exceeded.reason))
                continue
            if metric:
                self.usage.add(metric)
            if decided.verdict is Verdict.REQUIRE_APPROVAL:
                outcomes.append(EffectOutcome(index=index, action=action, outcome="held", policy=decided.policy,
                                              rule=decided.rule, reason=decided.reason,
                                              approval_id=self.gov.approvals.approval_id(self.record, seq, index)))
        if not outcomes:
            return decision
        return decision.model_copy(update={"outcomes": outcomes})

    async def park(self, seq: int, decision: Decision) -> None:
        """Park the held effects as pending approvals (idempotent: a retried step parks nothing new)."""
        for o in decision.outcomes:
            if o.outcome == "held":
                effect = decision.effects[o.index]
                event = effect_event(self.record, seq, o.index, effect) \
                    if isinstance(effect, (EmitEffect, SendEffect)) else None
                timeout = self.policies.timeout_of(o.policy, o.rule)
                await self.gov.approvals.park(self.record, seq, o, effect, event, timeout)

    def finish(self, seq: int, events: int, decision: Decision) -> list[Awaitable[Any]]:
        """The step's usage and audit writes, to run together with completing the step (one group commit)."""
        rec = self.record
        blocked = {o.index for o in decision.outcomes}
        sent = [e for i, e in enumerate(decision.effects) if i not in blocked]
        deltas = {"steps": 1, "model_calls": decision.model_calls, "tokens": decision.tokens,
                  "tool_calls": max(self.usage.added.get("tool_calls", 0), decision.tool_calls),
                  "messages": sum(isinstance(e, SendEffect) for e in sent),
                  "events": sum(isinstance(e, EmitEffect) for e in sent)}
        entries = [self.gov.entry(
            "step", "agent.step", actor=f"agent:{rec.id}", agent_id=rec.id, outcome="done", seq=seq,
            events=events, effects=len(decision.effects), applied=len(sent), model_calls=decision.model_calls,
            tokens=decision.tokens)]
        entries += [self.gov.entry("effect", o.action, actor=f"agent:{rec.id}", agent_id=rec.id,
                                   outcome=o.outcome, seq=seq, index=o.index, policy=o.policy, rule=o.rule,
                                   reason=o.reason, approval_id=o.approval_id) for o in decision.outcomes]
        return [self.gov.stores.usage.add(rec.tenant, rec.id, deltas, self.gov.clock.now()),
                self.gov.auditor.append(rec.tenant, entries)]


def journaled(decision: Decision) -> Decision:
    """The decision as the agent's context records it: a denied or held note is replaced by a line saying so
    (with the reason), so the agent learns why and the blocked text never enters its context."""
    notes = {o.index: o for o in decision.outcomes if isinstance(decision.effects[o.index], NoteEffect)}
    if not notes:
        return decision
    effects = [NoteEffect(text=f"[note {notes[i].outcome}: {notes[i].reason or notes[i].rule}]") if i in notes
               else e for i, e in enumerate(decision.effects)]
    return decision.model_copy(update={"effects": effects})


def _facts(effect: Any) -> dict[str, Any]:
    if isinstance(effect, EmitEffect):
        return {"event_type": effect.type, "target": effect.to, "payload": effect.data}
    if isinstance(effect, SendEffect):
        return {"event_type": effect.type, "target": effect.to, "payload": effect.data}
    if isinstance(effect, StateEffect):
        return {"payload": effect.set}
    if isinstance(effect, NoteEffect):
        return {"payload": {"text": effect.text}}
    return {}


async def gather(*aws: Awaitable[Any]) -> list[Any]:
    return list(await asyncio.gather(*aws))
