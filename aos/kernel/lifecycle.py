"""The agent lifecycle as a table: registered → active (idle ↔ running) ↔ suspended → retired, plus failed.

`running` is not stored: it is "a step is in flight", which the host knows and storage need not (writing it
would cost two writes per step). Anything not in the table is an `InvalidTransition` (HTTP 409).
"""

from __future__ import annotations

from aos.errors import InvalidTransition
from aos.model import AgentState

S = AgentState

_TRANSITIONS: dict[str, dict[AgentState, AgentState]] = {
    "activate": {S.REGISTERED: S.ACTIVE},
    "suspend": {S.ACTIVE: S.SUSPENDED, S.FAILED: S.SUSPENDED},
    "resume": {S.SUSPENDED: S.ACTIVE, S.FAILED: S.ACTIVE},
    "fail": {S.ACTIVE: S.FAILED},
    "retire": {S.REGISTERED: S.RETIRED, S.ACTIVE: S.RETIRED, S.SUSPENDED: S.RETIRED, S.FAILED: S.RETIRED},
}

#: States whose mailbox still accepts events (suspended and failed agents catch up when resumed).
RECEIVING = frozenset({S.REGISTERED, S.ACTIVE, S.SUSPENDED, S.FAILED})


def next_state(agent_id: str, state: AgentState, action: str) -> AgentState:
    try:
        return _TRANSITIONS[action][state]
    except KeyError:
        raise InvalidTransition(agent_id, state.value, action) from None


def allowed_actions(state: AgentState) -> list[str]:
    return [action for action, table in _TRANSITIONS.items() if state in table]
