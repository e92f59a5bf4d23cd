"""Turning a journaled decision into events and state, with ids that make re-application harmless.

Every event an effect produces has the id `{agent}:{incarnation}:{seq}:{index}`; the tenant's event-id dedupe
in the mailbox accepts it once, so a step that is retried after a crash re-publishes nothing new. State
effects are merges of absolute values (a counter increment is decided as its resulting value), so applying
them twice leaves the same state.
"""

from __future__ import annotations

from typing import Any

from aos.model import (
    SENDER_EXT,
    TARGET_EXT,
    AgentRecord,
    Decision,
    EmitEffect,
    Event,
    SendEffect,
    StateEffect,
)

UNDELIVERABLE_TYPE = "aos.undeliverable"


def effect_event_id(record: AgentRecord, seq: int, index: int) -> str:
    return f"{record.id}:{record.incarnation}:{seq}:{index}"


def effect_event(record: AgentRecord, seq: int, index: int, effect: EmitEffect | SendEffect) -> Event:
    body: dict[str, Any] = {
        "id": effect_event_id(record, seq, index),
        "source": f"aos://agents/{record.id}",
        "type": effect.type,
        "data": effect.data,
        SENDER_EXT: record.id,
    }
    if isinstance(effect, EmitEffect):
        if effect.subject is not None:
            body["subject"] = effect.subject
        if effect.to:
            body[TARGET_EXT] = effect.to
    else:
        body[TARGET_EXT] = effect.to
    return Event.model_validate(body)


def undeliverable_event(record: AgentRecord, original: Event, reason: str) -> Event:
    """Told back to the sender when an effect cannot be delivered (unknown or retired target)."""
    return Event.model_validate({
        "id": f"{original.id}:undeliverable",
        "source": "aos://kernel",
        "type": UNDELIVERABLE_TYPE,
        "subject": original.id,
        "data": {"event": original.wire(), "reason": reason},
        TARGET_EXT: record.id,
    })


def merged_state(state: dict[str, Any], decision: Decision) -> dict[str, Any] | None:
    """The state after the decision's state effects, or None if it has none."""
    changes = [e for e in decision.effects if isinstance(e, StateEffect)]
    if not changes:
        return None
    result = dict(state)
    for change in changes:
        for name in change.unset:
            result.pop(name, None)
        result.update(change.set)
    return result
