"""The kernel's governance: policy decisions, budgets, approvals and audit, behind one object.

`Kernel.governance` is a `Governor` when the backend provides governance stores (`Stores.governance`), else
None and nothing is governed. Policies are compiled per tenant and cached: where the kernel is the only
writer (embedded host) the cache lives until a policy changes here; with several host instances (Functions)
it is revalidated against the store's change stamp every `cache_s` seconds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aos.errors import AgentNotFound, PolicyDenied
from aos.governance_model import PolicyRecord, Verdict
from aos.kernel.audit import Auditor, record
from aos.kernel.budget import BudgetGuard
from aos.kernel.policy.engine import Decided, PolicyInput, PolicySet
from aos.ports import AuditEntry, Governance

if TYPE_CHECKING:
    from aos.kernel.approvals import Approvals
    from aos.kernel.kernel import Kernel
    from aos.kernel.policy.step import StepGovernance
    from aos.model import AgentRecord


class Governor:
    def __init__(self, kernel: Kernel, stores: Governance, *, cache_s: float | None = None) -> None:
        from aos.kernel.approvals import Approvals

        self.kernel = kernel
        self.stores = stores
        self.clock = kernel.stores.clock
        self.auditor = Auditor(stores.audit, self.clock)
        self.budgets = BudgetGuard(stores.usage)
        self.approvals: Approvals = Approvals(self)
        self._cache_s = cache_s
        self._sets: dict[str, tuple[PolicySet, float, int]] = {}

    # ------------------------------------------------------------ policies

    async def policy_set(self, tenant: str) -> PolicySet:
        cached = self._sets.get(tenant)
        now = time.monotonic()
        if cached is not None and (self._cache_s is None or now - cached[1] < self._cache_s):
            return cached[0]
        stamp = await self.stores.policies.stamp(tenant)
        if cached is not None and cached[2] == stamp:
            self._sets[tenant] = (cached[0], now, stamp)
            return cached[0]
        compiled = PolicySet.compile(await self.stores.policies.list(tenant))
        self._sets[tenant] = (compiled, now, stamp)
        return compiled

    def invalidate(self, tenant: str) -> None:
        self._sets.pop(tenant, None)

    def input(self, action: str, role: str, *, agent_id: str | None = None, labels: dict[str, str] | None = None,
              event_type: str | None = None, target: str | None = None, payload: Any = None) -> PolicyInput:
        now = self.clock.now()
        return PolicyInput(action, role, agent_id, labels, event_type, target, payload, now.weekday(),
                           now.hour * 60 + now.minute)

    async def check_call(self, tenant: str, role: str, action: str, *, agent_id: str | None = None,
                         event_type: str | None = None, target: str | None = None, payload: Any = None) -> Decided:
        """Decide a system call; raises `PolicyDenied` (403) when denied or when it would need an approval
        (a system call cannot be parked: the caller is waiting)."""
        policies = await self.policy_set(tenant)
        if policies.empty:
            return policies.default
        labels = await self._labels(tenant, agent_id) if policies.needs_labels else None
        decided = policies.decide(self.input(action, role, agent_id=agent_id, labels=labels,
                                             event_type=event_type, target=target, payload=payload))
        if decided.verdict is Verdict.DENY:
            raise PolicyDenied(action, decided.policy, decided.rule, decided.reason)
        if decided.verdict is Verdict.REQUIRE_APPROVAL:
            raise PolicyDenied(action, decided.policy, decided.rule,
                               f"{decided.reason} (needs approval; system calls cannot wait for one)")
        return decided

    async def _labels(self, tenant: str, agent_id: str | None) -> dict[str, str] | None:
        if not agent_id:
            return None
        try:
            return dict((await self.kernel.get(tenant, agent_id)).spec.labels)
        except AgentNotFound:
            return None

    async def put_policy(self, record: PolicyRecord, expected_version: int | None) -> PolicyRecord:
        stored = await self.stores.policies.put(record, expected_version)
        self.invalidate(record.tenant)
        return stored

    async def delete_policy(self, tenant: str, name: str, by: str) -> bool:
        gone = await self.stores.policies.delete(tenant, name, self.clock.now(), by)
        self.invalidate(tenant)
        return gone

    # ------------------------------------------------------------ steps, audit

    async def step(self, record: AgentRecord) -> StepGovernance:
        from aos.kernel.policy.step import StepGovernance

        policies = await self.policy_set(record.tenant)
        budgets = policies.budgets_for(record.id, dict(record.spec.labels)) if policies.budgets else []
        usage = self.budgets.tracker(record.tenant, record.id, budgets, self.clock.now())
        return StepGovernance(self, record, policies, usage)

    def entry(self, kind: str, action: str, **kw: Any) -> AuditEntry:
        return self.auditor.entry(kind, action, **kw)

    async def record(self, tenant: str, entries: list[AuditEntry]) -> None:
        await record(self.auditor, tenant, entries)

    async def tick(self) -> list[str]:
        """Reject approvals past their timeout (the scheduler calls this with the cron tick)."""
        return await self.approvals.expire(self.clock.now())
