"""Dry run of a draft policy against what really happened: the audit log's system calls and the step
journals' effects of the last N days. The draft replaces the live policy of the same name (or joins the live
set); each recorded action is decided by both sets, and the report lists what the draft would deny or hold
and which of those differ from today's verdict. Nothing is stored or applied.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aos.governance_model import PolicyDocument, PolicyRecord, Verdict
from aos.kernel.policy.engine import PolicyInput, PolicySet
from aos.kernel.policy.step import _facts, effect_action

if TYPE_CHECKING:
    from aos.kernel.policy.governor import Governor

MAX_ITEMS = 200


async def simulate(gov: Governor, tenant: str, name: str, draft: PolicyDocument, *, days: float,
                   limit: int) -> dict[str, Any]:
    now = gov.clock.now()
    since = now - timedelta(days=days)
    live = [r for r in await gov.stores.policies.list(tenant) if r.name != name]
    current = PolicySet.compile(live)
    proposed = PolicySet.compile([*live, PolicyRecord(tenant=tenant, name=name, version=0, document=draft,
                                                      updated_at=now)])
    labels: dict[str, dict[str, str]] = {}
    agents, cursor = [], None
    while True:
        page, cursor = await gov.kernel.list(tenant, limit=500, cursor=cursor)
        agents += page
        if cursor is None:
            break
    for a in agents:
        labels[a.id] = dict(a.spec.labels)
    report = _Report(name, days)
    for req, when, ref in await _calls(gov, tenant, since, limit, labels):
        report.add(req, when, ref, "call", current, proposed)
    for a in agents:
        for req, when, ref in await _effects(gov, a, since, limit):
            report.add(req, when, ref, "effect", current, proposed)
    return report.result()


async def _calls(gov: Governor, tenant: str, since: datetime, limit: int,
                 labels: dict[str, dict[str, str]]) -> list[tuple[PolicyInput, datetime, str]]:
    out: list[tuple[PolicyInput, datetime, str]] = []
    before = None
    while len(out) < limit:
        page = await gov.stores.audit.page(tenant, before=before, limit=500, kind="call")
        for r in page:
            when = datetime.fromisoformat(r.ts)
            if when < since:
                return out
            d = r.details
            out.append((_input(r.action, str(d.get("role", "")), r.agent_id, labels.get(r.agent_id or ""),
                               when, event_type=d.get("event_type"), target=d.get("target")),
                        when, f"audit:{r.seq}"))
        if len(page) < 500:
            break
        before = page[-1].seq
    return out


async def _effects(gov: Governor, record: Any, since: datetime, limit: int) -> list[tuple[PolicyInput, datetime, str]]:
    out: list[tuple[PolicyInput, datetime, str]] = []
    before = None
    labels = dict(record.spec.labels)
    while len(out) < limit:
        steps = await gov.kernel.stores.mailbox.steps(record.key, limit=200, before=before)
        for step in steps:
            if step.started_at < since:
                return out
            if step.decision is None:
                continue
            for i in range(step.decision.model_calls):
                out.append((_input("model.call", "agent", record.id, labels, step.started_at), step.started_at,
                            f"step:{record.id}:{step.seq}:model:{i}"))
            for i, effect in enumerate(step.decision.effects):
                out.append((_input(effect_action(effect), "agent", record.id, labels, step.started_at,
                                   **_facts(effect)), step.started_at, f"step:{record.id}:{step.seq}:{i}"))
        if len(steps) < 200 or steps[-1].seq <= 1:
            break
        before = steps[-1].seq
    return out


def _input(action: str, role: str, agent_id: str | None, labels: dict[str, str] | None, when: datetime,
           **facts: Any) -> PolicyInput:
    return PolicyInput(action, role, agent_id, labels, facts.get("event_type"), facts.get("target"),
                       facts.get("payload"), when.weekday(), when.hour * 60 + when.minute)


class _Report:
    def __init__(self, name: str, days: float) -> None:
        self.name, self.days = name, days
        self.counts = {"calls": 0, "effects": 0, "would_deny": 0, "would_hold": 0, "changed": 0}
        self.items: list[dict[str, Any]] = []

    def add(self, req: PolicyInput, when: datetime, ref: str, kind: str, current: PolicySet,
            proposed: PolicySet) -> None:
        self.counts["calls" if kind == "call" else "effects"] += 1
        after = proposed.decide(req)
        if after.verdict is Verdict.ALLOW:
            return
        before = current.decide(req)
        self.counts["would_deny" if after.verdict is Verdict.DENY else "would_hold"] += 1
        changed = before.verdict is not after.verdict
        self.counts["changed"] += changed
        if len(self.items) < MAX_ITEMS:
            self.items.append({"when": when.isoformat(), "kind": kind, "ref": ref, "action": req.action,
                               "agent": req.agent_id, "event_type": req.event_type, "verdict": after.verdict.value,
                               "today": before.verdict.value, "changed": changed, "policy": after.policy,
                               "rule": after.rule, "reason": after.reason})

    def result(self) -> dict[str, Any]:
        return {"policy": self.name, "days": self.days, **self.counts, "items": self.items,
                "truncated": self.counts["would_deny"] + self.counts["would_hold"] > len(self.items)}
