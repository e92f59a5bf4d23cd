"""Which agents an event wakes. Pure functions: the registry narrows by type, these decide the rest."""

from __future__ import annotations

from aos.model import AgentSpec, Event, Subscription


def type_matches(pattern: str, event_type: str) -> bool:
    """`*` matches everything, `a.b.*` matches `a.b.x` and `a.b.x.y` (not `a.b`), anything else is exact."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def _filter_matches(pattern: str | None, value: str | None) -> bool:
    if pattern is None:
        return True
    if value is None:
        return False
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return pattern == value


def subscription_matches(sub: Subscription, event: Event) -> bool:
    return (
        type_matches(sub.type, event.type)
        and _filter_matches(sub.source, event.source)
        and _filter_matches(sub.subject, event.subject)
    )


def wants(spec: AgentSpec, event: Event) -> bool:
    """True when one of the agent's subscriptions matches the event (type and source/subject filters)."""
    return any(subscription_matches(s, event) for s in spec.subscriptions)
