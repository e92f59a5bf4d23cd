"""Approvals (human in the loop): effects a `require_approval` rule parked, released or dropped by an operator.

Parking stores the effect (for emit/send: the event with its deterministic id) and tells subscribers with an
`aos.approval.requested` event. Approving moves the approval to `approved` first (compare-and-set, so two
operators cannot both decide), then applies the effect (idempotent: the event id is fixed, the state merge is
absolute), then marks it applied; a crash in between is repaired by approving again, which re-applies
harmlessly. Rejecting (by an operator, or by the timeout on the scheduler tick) drops it. Either way the agent
gets an `aos.approval.decided` event, so its next step sees the outcome.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aos.errors import AgentNotFound, Conflict, VersionConflict
from aos.governance_model import Approval, ApprovalStatus
from aos.kernel.effects import undeliverable_event
from aos.model import TARGET_EXT, AgentRecord, EffectOutcome, Event, StateEffect, agent_key

if TYPE_CHECKING:
    from aos.kernel.policy.governor import Governor

log = logging.getLogger("aos.kernel.approvals")
REQUESTED_TYPE = "aos.approval.requested"
DECIDED_TYPE = "aos.approval.decided"


class Approvals:
    def __init__(self, gov: Governor) -> None:
        self.gov = gov
        self.store = gov.stores.approvals

    @staticmethod
    def approval_id(record: AgentRecord, seq: int, index: int) -> str:
        raw = f"{record.key}:{record.incarnation}:{seq}:{index}"
        return "apr-" + hashlib.sha256(raw.encode()).hexdigest()[:20]

    async def park(self, record: AgentRecord, seq: int, outcome: EffectOutcome, effect: Any,
                   event: Event | None, timeout_s: int) -> Approval:
        now = self.gov.clock.now()
        approval = await self.store.park(Approval(
            id=outcome.approval_id or self.approval_id(record, seq, outcome.index), tenant=record.tenant,
            agent_id=record.id, seq=seq, index=outcome.index, action=outcome.action,
            effect=effect.model_dump(mode="json"), event=event.wire() if event else None, policy=outcome.policy,
            rule=outcome.rule, reason=outcome.reason, requested_at=now,
            expires_at=now + timedelta(seconds=timeout_s)))
        await self.gov.kernel.publish(record.tenant, Event.model_validate({
            "id": f"{approval.id}:requested", "source": "aos://kernel", "type": REQUESTED_TYPE,
            "subject": approval.id, "data": _summary(approval)}), sender=record.id)
        return approval

    async def decide(self, tenant: str, approval_id: str, approve: bool, by: str,
                     note: str | None = None) -> Approval:
        status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
        try:
            approval = await self.store.decide(tenant, approval_id, status.value, by, note, self.gov.clock.now())
        except Conflict:
            current = await self.store.get(tenant, approval_id)
            if not (approve and current.status is ApprovalStatus.APPROVED and not current.applied):
                raise
            approval = current  # approved before, not applied yet (a crash): apply it now, idempotently
        if approval.status is ApprovalStatus.APPROVED and not approval.applied:
            await self._apply(approval)
            await self.store.mark_applied(tenant, approval.id)
            approval = approval.model_copy(update={"applied": True})
        await self._tell_agent(approval)
        await self.gov.record(tenant, [self.gov.entry(
            "approval", f"approval.{status.value}", actor=by, agent_id=approval.agent_id, outcome=status.value,
            approval_id=approval.id, effect_action=approval.action, policy=approval.policy, rule=approval.rule,
            note=note)])
        return approval

    async def expire(self, now: Any) -> list[str]:
        expired = []
        for a in await self.store.due(now):
            try:
                await self.decide(a.tenant, a.id, False, "timeout", "no decision within the approval timeout")
            except Conflict:
                continue  # decided meanwhile
            expired.append(a.id)
        return expired

    async def _apply(self, a: Approval) -> None:
        kernel = self.gov.kernel
        if a.event is not None:
            event = Event.model_validate(a.event)
            try:
                await kernel.publish(a.tenant, event, sender=a.agent_id)
            except (AgentNotFound, Conflict) as e:
                record = await kernel.get(a.tenant, a.agent_id)
                await kernel.publish(a.tenant, undeliverable_event(record, event, e.detail), sender=None)
        elif a.effect.get("kind") == "state":
            await self._merge_state(a)
        elif a.effect.get("kind") == "note" and kernel.stores.context is not None:
            from aos.ports import NewEntry

            await kernel.stores.context.append(agent_key(a.tenant, a.agent_id), [
                NewEntry("note", str(a.effect.get("text", "")), id=f"approval-{a.id}")])

    async def _merge_state(self, a: Approval) -> None:
        change = StateEffect.model_validate(a.effect)
        key = agent_key(a.tenant, a.agent_id)
        for _ in range(5):
            state, version = await self.gov.kernel.stores.state.get(key)
            merged = {k: v for k, v in state.items() if k not in change.unset} | change.set
            try:
                await self.gov.kernel.stores.state.put(key, merged, version)
                return
            except VersionConflict:
                continue
        raise VersionConflict(f"agent '{a.agent_id}' state kept changing; approve again to retry",
                              agent_id=a.agent_id)

    async def _tell_agent(self, a: Approval) -> None:
        event = Event.model_validate({
            "id": f"{a.id}:decided", "source": "aos://kernel", "type": DECIDED_TYPE, "subject": a.id,
            "data": _summary(a), TARGET_EXT: a.agent_id})
        try:
            await self.gov.kernel.publish(a.tenant, event, sender=None)
        except (AgentNotFound, Conflict):
            log.info("approval %s decided; agent %s no longer receives events", a.id, a.agent_id)


def _summary(a: Approval) -> dict[str, Any]:
    return {"approval": a.id, "agent": a.agent_id, "action": a.action, "what": a.effect, "who": a.agent_id,
            "why": a.reason, "policy": a.policy, "rule": a.rule, "status": a.status.value,
            "decided_by": a.decided_by, "note": a.note, "expires_at": a.expires_at.isoformat()}
