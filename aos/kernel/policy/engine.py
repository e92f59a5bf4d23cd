"""Policy evaluation: a tenant's policies compiled into an index, so one decision costs microseconds.

Why an index: every system call and every effect is evaluated (invariant 5). Rules are grouped by the exact
action they name, and glob rules (`agents.*`, `tool.call:*`, `*`) are resolved per action once and memoized,
so a decision only tests the few rules that can match its action. Precedence: any matching `deny` wins, then
`require_approval`, then `allow`; no match gives the tenant's default (allow, unless a tenant-scoped policy
sets `default: deny`; a deny default wins over an allow one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aos.governance_model import Budget, PolicyRecord, Verdict
from aos.kernel.policy.conditions import Matcher, compile_conditions, scope_matcher


@dataclass(frozen=True)
class PolicyInput:
    """What is being decided. `agent_id`/`labels` name the acting agent (effects) or the subject agent
    (system calls on one agent); `minute_of_week` is (weekday 0=mon, minute of day) in UTC."""

    action: str
    role: str
    agent_id: str | None = None
    labels: dict[str, str] | None = None
    event_type: str | None = None
    target: str | None = None
    payload: Any = None
    weekday: int = 0
    minute: int = 0


@dataclass(frozen=True)
class Decided:
    verdict: Verdict
    policy: str = ""
    rule: str = ""
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW


@dataclass(frozen=True)
class CompiledRule:
    policy: str
    rule: str
    verdict: Verdict
    reason: str
    applies: Matcher
    patterns: tuple[str, ...]
    timeout_s: int


@dataclass(frozen=True)
class BudgetRule:
    policy: str
    budget: Budget
    applies: Matcher


@dataclass
class PolicySet:
    """One tenant's live policies, compiled. Immutable once built except for the per-action memo."""

    rules: tuple[CompiledRule, ...] = ()
    budgets: tuple[BudgetRule, ...] = ()
    default: Decided = field(default_factory=lambda: Decided(Verdict.ALLOW, reason="no rule matched"))
    needs_labels: bool = False
    _exact: dict[str, list[CompiledRule]] = field(default_factory=dict)
    _globs: list[CompiledRule] = field(default_factory=list)
    _memo: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)

    @classmethod
    def compile(cls, records: Iterable[PolicyRecord]) -> PolicySet:
        rules: list[CompiledRule] = []
        budgets: list[BudgetRule] = []
        default = Decided(Verdict.ALLOW, reason="no rule matched; the tenant default is allow")
        needs_labels = False
        for rec in sorted(records, key=lambda r: r.name):
            doc = rec.document
            if not doc.enabled or rec.deleted:
                continue
            scope = scope_matcher(doc.scope)
            needs_labels |= doc.scope.labels is not None
            if doc.default == "deny":
                default = Decided(Verdict.DENY, rec.name, "default", "no rule matched; the tenant default is deny")
            for r in doc.rules:
                needs_labels |= r.when.agent_labels is not None
                applies = _both(scope, compile_conditions(r.when))
                rules.append(CompiledRule(rec.name, r.id, r.effect, r.reason or f"{r.effect.value} by rule {r.id}",
                                          applies, tuple(r.actions), doc.approval_timeout_s))
            budgets += [BudgetRule(rec.name, b, scope or _always) for b in doc.budgets]
        built = cls(tuple(rules), tuple(budgets), default, needs_labels)
        for rule in rules:
            for p in rule.patterns:
                if p.endswith("*"):
                    built._globs.append(rule)
                else:
                    built._exact.setdefault(p, []).append(rule)
        return built

    @property
    def empty(self) -> bool:
        return not self.rules and self.default.verdict is Verdict.ALLOW

    def candidates(self, action: str) -> tuple[CompiledRule, ...]:
        found = self._memo.get(action)
        if found is None:
            exact = self._exact.get(action, [])
            globbed = [r for r in self._globs if any(_glob(p, action) for p in r.patterns) and r not in exact]
            found = tuple(exact + globbed)
            if len(self._memo) < 4096:
                self._memo[action] = found
        return found

    def decide(self, req: PolicyInput) -> Decided:
        held: CompiledRule | None = None
        allowed: CompiledRule | None = None
        for rule in self.candidates(req.action):
            if not rule.applies(req):
                continue
            if rule.verdict is Verdict.DENY:
                return Decided(Verdict.DENY, rule.policy, rule.rule, rule.reason)
            if rule.verdict is Verdict.REQUIRE_APPROVAL:
                held = held or rule
            else:
                allowed = allowed or rule
        chosen = held or allowed
        if chosen is None:
            return self.default
        return Decided(chosen.verdict, chosen.policy, chosen.rule, chosen.reason)

    def timeout_of(self, policy: str, rule: str) -> int:
        for r in self.rules:
            if r.policy == policy and r.rule == rule:
                return r.timeout_s
        return 3600

    def budgets_for(self, agent_id: str, labels: dict[str, str]) -> list[BudgetRule]:
        probe = PolicyInput(action="", role="agent", agent_id=agent_id, labels=labels)
        return [b for b in self.budgets if b.applies(probe)]


def _glob(pattern: str, action: str) -> bool:
    return pattern == "*" or action.startswith(pattern[:-1])


def _both(a: Matcher | None, b: Matcher | None) -> Matcher:
    if a is None and b is None:
        return _always
    if a is None or b is None:
        return a or b  # type: ignore[return-value]
    return lambda req: a(req) and b(req)


def _always(req: PolicyInput) -> bool:
    return True
