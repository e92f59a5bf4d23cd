"""Budgets: usage per agent and per tenant over minute/hour/day periods, checked before the work is done.

Periods are calendar-aligned in UTC (this minute, this hour, today), so a budget refills when the period
turns. Usage is counted in one-minute buckets (`UsageCounter`); an hour or day is the sum of its buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aos.governance_model import METRICS, PERIODS
from aos.kernel.policy.engine import BudgetRule
from aos.ports import UsageCounter


def period_start(period: str, now: datetime) -> datetime:
    base = now.replace(second=0, microsecond=0)
    if period == "minute":
        return base
    if period == "hour":
        return base.replace(minute=0)
    return base.replace(hour=0, minute=0)


@dataclass(frozen=True)
class Exceeded:
    policy: str
    metric: str
    period: str
    per: str
    limit: int
    used: int
    window: datetime

    @property
    def reason(self) -> str:
        whose = "this agent" if self.per == "agent" else "the tenant"
        return (f"{self.metric} budget of {whose} used up: {self.used} of {self.limit} per {self.period} "
                f"(policy '{self.policy}'); it refills at {self.refill.isoformat()}")

    @property
    def refill(self) -> datetime:
        return self.window + timedelta(seconds=PERIODS[self.period]) if self.period != "day" else \
            self.window + timedelta(days=1)


class BudgetGuard:
    """Reads usage for the budgets that apply to one agent; one step caches what it read (`Usage`)."""

    def __init__(self, usage: UsageCounter) -> None:
        self.usage = usage

    def tracker(self, tenant: str, agent_id: str, budgets: list[BudgetRule], now: datetime) -> Usage:
        return Usage(self.usage, tenant, agent_id, budgets, now)

    async def report(self, tenant: str, agent_id: str | None, budgets: list[BudgetRule],
                     now: datetime) -> dict[str, Any]:
        """Consumption per period (of the agent, or the tenant when `agent_id` is None) and each budget that
        applies with what it has used (per-agent budgets of a tenant report count the tenant's total)."""
        totals: dict[tuple[str | None, str], dict[str, int]] = {}

        async def used(who: str | None, period: str) -> dict[str, int]:
            if (who, period) not in totals:
                totals[(who, period)] = await self.usage.totals(tenant, who, period_start(period, now))
            return totals[(who, period)]

        usage = {p: {m: (await used(agent_id, p)).get(m, 0) for m in METRICS} for p in PERIODS}
        rows = []
        for b in budgets:
            who = agent_id if b.budget.per == "agent" else None
            spent = (await used(who, b.budget.period)).get(b.budget.metric, 0)
            rows.append({"policy": b.policy, **b.budget.model_dump(), "used": spent,
                         "remaining": max(0, b.budget.limit - spent)})
        return {"usage": usage, "budgets": rows}


class Usage:
    """One step's view: what was used before it (read once per period and scope), plus what it adds."""

    def __init__(self, counter: UsageCounter, tenant: str, agent_id: str, budgets: list[BudgetRule],
                 now: datetime) -> None:
        self._counter = counter
        self.tenant, self.agent_id, self.budgets, self.now = tenant, agent_id, budgets, now
        self._read: dict[tuple[str, str], dict[str, int]] = {}
        self.added: dict[str, int] = {}

    async def check(self, metric: str, amount: int = 1) -> Exceeded | None:
        """The first budget that `amount` more of `metric` would exceed (None: within every budget)."""
        for b in self.budgets:
            if b.budget.metric != metric:
                continue
            used = await self._used(b.budget.per, b.budget.period, metric)
            if used + amount > b.budget.limit:
                return Exceeded(b.policy, metric, b.budget.period, b.budget.per, b.budget.limit, used,
                                period_start(b.budget.period, self.now))
        return None

    async def exhausted(self, metrics: tuple[str, ...]) -> Exceeded | None:
        """A budget of `metrics` already used up (before a step: no step may start on it)."""
        for b in self.budgets:
            if b.budget.metric not in metrics:
                continue
            used = await self._used(b.budget.per, b.budget.period, b.budget.metric)
            need = 1 if b.budget.metric == "steps" else 0
            if used + need > b.budget.limit or (need == 0 and used >= b.budget.limit):
                return Exceeded(b.policy, b.budget.metric, b.budget.period, b.budget.per, b.budget.limit, used,
                                period_start(b.budget.period, self.now))
        return None

    def add(self, metric: str, amount: int = 1) -> None:
        self.added[metric] = self.added.get(metric, 0) + amount

    async def _used(self, per: str, period: str, metric: str) -> int:
        key = (per, period)
        if key not in self._read:
            self._read[key] = await self._counter.totals(
                self.tenant, self.agent_id if per == "agent" else None, period_start(period, self.now))
        return self._read[key].get(metric, 0) + self.added.get(metric, 0)
