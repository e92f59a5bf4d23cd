"""Rule conditions compiled into small closures: each checks one fact of a `PolicyInput`, all must hold.

Why closures: a condition is parsed once when policies change, not on every decision; an absent condition
costs nothing at decision time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aos.governance_model import WEEKDAYS, Conditions, Scope, TimeWindow, is_number

if TYPE_CHECKING:
    from aos.kernel.policy.engine import PolicyInput

Matcher = Callable[["PolicyInput"], bool]
_MISSING = object()


def any_glob(patterns: list[str]) -> Callable[[str | None], bool]:
    exact = frozenset(p for p in patterns if not p.endswith("*"))
    prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))

    def match(value: str | None) -> bool:
        return value is not None and (value in exact or (bool(prefixes) and value.startswith(prefixes)))

    return match


def scope_matcher(scope: Scope) -> Matcher | None:
    if scope.agent is not None:
        agent = scope.agent
        return lambda req: req.agent_id == agent
    if scope.labels is not None:
        return _labels(scope.labels)
    return None


def _labels(wanted: dict[str, str]) -> Matcher:
    items = tuple(wanted.items())
    return lambda req: req.labels is not None and all(req.labels.get(k) == v for k, v in items)


def compile_conditions(when: Conditions) -> Matcher | None:
    checks: list[Matcher] = []
    if when.roles is not None:
        roles = frozenset(when.roles)
        checks.append(lambda req: req.role in roles)
    if when.agents is not None:
        agents = any_glob(when.agents)
        checks.append(lambda req: agents(req.agent_id))
    if when.agent_labels is not None:
        checks.append(_labels(when.agent_labels))
    if when.event_types is not None:
        types = any_glob(when.event_types)
        checks.append(lambda req: types(req.event_type))
    if when.targets is not None:
        targets = any_glob(when.targets)
        checks.append(lambda req: targets(req.target))
    if when.time is not None:
        checks.append(_time(when.time))
    if when.payload is not None:
        checks += [_payload(path, cond) for path, cond in when.payload.items()]
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda req: all(c(req) for c in checks)


def _time(window: TimeWindow) -> Matcher:
    days = frozenset(WEEKDAYS.index(d) for d in window.days)  # Monday first, as datetime.weekday()
    start = _minutes(window.start)
    end = _minutes(window.end)

    def match(req: PolicyInput) -> bool:
        if req.weekday not in days:
            return False
        if start <= end:
            return start <= req.minute < end
        return req.minute >= start or req.minute < end

    return match


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _payload(path: str, cond: Any) -> Matcher:
    parts = tuple(path.split("."))
    ops = cond if isinstance(cond, dict) and cond and all(k in _OPS for k in cond) else {"eq": cond}
    tests = [(_OPS[op], arg) for op, arg in ops.items()]

    def match(req: PolicyInput) -> bool:
        value = _lookup(req.payload, parts)
        return all(test(value, arg) for test, arg in tests)

    return match


def _lookup(data: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def _cmp(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def test(value: Any, arg: Any) -> bool:
        # numbers only, on both sides (documents are checked for it; one stored before never raises either)
        if not (is_number(value) and is_number(arg)):
            return False
        return fn(value, arg)

    return test


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda v, a: v is not _MISSING and v == a,
    "ne": lambda v, a: v is _MISSING or v != a,
    "gt": _cmp(lambda v, a: v > a),
    "gte": _cmp(lambda v, a: v >= a),
    "lt": _cmp(lambda v, a: v < a),
    "lte": _cmp(lambda v, a: v <= a),
    "in": lambda v, a: v is not _MISSING and isinstance(a, list) and v in a,
    "exists": lambda v, a: (v is not _MISSING) == bool(a),
}
