"""The agent orchestration replayed from history through the real azure-functions-durable engine.

The registered orchestrator function (what the worker calls) gets a history JSON and returns the actions it
decides on next; `ActionType` numbers: 0 call activity, 4 continue-as-new, 5 create timer,
6 wait for external event, 11 when-any.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from aos.hosting import orchestrator
from tests.functions.history import START, History

KEY = "acme/triage"
INSTANCE = "aos-agent:acme:triage"
CALL, CONTINUE_AS_NEW, CREATE_TIMER, WAIT_EVENT, WHEN_ANY = 0, 4, 5, 6, 11


def report(more: bool, state: str = "active", next_wake_at: str | None = None,
           restart_at: str | None = None) -> dict[str, Any]:
    return {"key": KEY, "more": more, "state": state, "next_wake_at": next_wake_at, "restart_at": restart_at}


def replay(functions: dict[str, Any], history: History) -> dict[str, Any]:
    handle = functions["agent_orchestrator"].get_user_function()
    state: dict[str, Any] = json.loads(handle(history.body()))
    return state


def actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action decided so far (replay schema V3 keeps them in one list)."""
    return [a for group in state["actions"] for a in group]


def last(state: dict[str, Any]) -> dict[str, Any]:
    return actions(state)[-1]


def flat(state: dict[str, Any]) -> list[int]:
    return [a["actionType"] for a in actions(state)]


def test_first_action_is_a_step(functions: dict[str, Any]) -> None:
    state = replay(functions, History(INSTANCE, KEY))
    assert not state["isDone"]
    action = last(state)
    assert action["actionType"] == CALL and action["functionName"] == "agent_step"
    assert json.loads(action["input"]) == KEY


def test_wake_then_step_then_continue_as_new(functions: dict[str, Any]) -> None:
    h = History(INSTANCE, KEY).activity("agent_step", report(True)).activity("agent_step", report(False))
    state = replay(functions, h)
    assert last(state)["actionType"] == WAIT_EVENT, "idle, no cron: wait for wake only"
    assert last(state)["externalEventName"] == "wake"
    h.episode().event_raised("wake")
    state = replay(functions, h)
    assert state["isDone"] and last(state)["actionType"] == CONTINUE_AS_NEW
    assert json.loads(last(state)["input"]) == KEY


def test_timer_wins(functions: dict[str, Any]) -> None:
    due = START + timedelta(minutes=1)
    h = History(INSTANCE, KEY).activity("agent_step", report(False, next_wake_at=due.isoformat()))
    state = replay(functions, h)
    any_of = last(state)
    assert any_of["actionType"] == WHEN_ANY
    kinds = sorted(a["actionType"] for a in any_of["compoundActions"])
    assert kinds == [CREATE_TIMER, WAIT_EVENT]
    timer = next(a for a in any_of["compoundActions"] if a["actionType"] == CREATE_TIMER)
    assert timer["fireAt"].startswith("2026-01-05T12:01:00")
    h.episode(60)
    h.timer_created(due)  # recorded when the when-any was scheduled
    h.timer_fired(1, due)
    state = replay(functions, h)
    assert state["isDone"] and last(state)["actionType"] == CONTINUE_AS_NEW


def test_wake_beats_timer_and_the_timer_is_cancelled(functions: dict[str, Any]) -> None:
    due = START + timedelta(hours=1)
    h = History(INSTANCE, KEY).activity("agent_step", report(False, next_wake_at=due.isoformat()))
    h.episode().timer_created(due)
    h.event_raised("wake")
    state = replay(functions, h)
    assert state["isDone"] and last(state)["actionType"] == CONTINUE_AS_NEW
    timers = [a for a in actions(state) if a["actionType"] == WHEN_ANY]
    assert any(c.get("isCanceled") for t in timers for c in t["compoundActions"] if c["actionType"] == CREATE_TIMER)


def test_suspended_or_retired_agent_ends_the_orchestration(functions: dict[str, Any]) -> None:
    for state_name in ("suspended", "retired", "purged"):
        state = replay(functions, History(INSTANCE, KEY).activity("agent_step", report(False, state_name)))
        assert state["isDone"] and state["output"] == {"agent": KEY, "ended": state_name}
        assert CONTINUE_AS_NEW not in flat(state) and WAIT_EVENT not in flat(state)


def test_failed_agent_restarts_after_backoff(functions: dict[str, Any]) -> None:
    at = START + timedelta(seconds=60)
    h = History(INSTANCE, KEY).activity("agent_step", report(False, "failed", restart_at=at.isoformat()))
    state = replay(functions, h)
    assert last(state)["actionType"] == CREATE_TIMER
    h.episode(60)
    h.timer_fired(h.timer_created(at), at)
    state = replay(functions, h)
    assert last(state)["functionName"] == "agent_restart"
    h.activity("agent_restart", {"key": KEY, "restarted": True, "state": "active"})
    state = replay(functions, h)
    assert state["isDone"] and last(state)["actionType"] == CONTINUE_AS_NEW
    spent = replay(functions, History(INSTANCE, KEY).activity("agent_step", report(False, "failed")))
    assert spent["isDone"] and spent["output"] == {"agent": KEY, "ended": "failed"}


def test_failed_activity_is_retried_then_surfaced(functions: dict[str, Any]) -> None:
    h = History(INSTANCE, KEY)
    h.activity_failed_last("agent_step", "StorageError: sqlite locked")
    backoff = last(replay(functions, h))
    assert backoff["actionType"] == CREATE_TIMER and backoff["fireAt"].startswith("2026-01-05T12:00:06")
    h = History(INSTANCE, KEY).activity_failed("agent_step", "StorageError: sqlite locked", 5)
    state = replay(functions, h)
    retry = last(state)
    assert retry["actionType"] == CALL and retry["functionName"] == "agent_step"
    h.activity("agent_step", report(False))  # second attempt succeeds
    assert last(replay(functions, h))["actionType"] == WAIT_EVENT

    h = History(INSTANCE, KEY)
    for delay in (5, 10):
        h.activity_failed("agent_step", "StorageError: sqlite locked", delay)
    assert last(replay(functions, h))["functionName"] == "agent_step", "third attempt"
    h.episode().activity_failed_last("agent_step", "StorageError: sqlite locked")
    with pytest.raises(Exception, match="agent_step.*failed 3 times; last: StorageError: sqlite locked"):
        replay(functions, h)


def test_busy_agent_continues_as_new_to_bound_history(functions: dict[str, Any]) -> None:
    h = History(INSTANCE, KEY)
    for _ in range(orchestrator.STEPS_PER_GENERATION):
        h.activity("agent_step", report(True))
    state = replay(functions, h)
    assert state["isDone"] and last(state)["actionType"] == CONTINUE_AS_NEW
    assert WAIT_EVENT not in flat(state)


def test_wake_during_continue_as_new_loses_nothing(functions: dict[str, Any]) -> None:
    """The SDK drops an event raised while the instance continues-as-new. The new generation does not need
    it: it steps first, before it waits, so the mail that wake announced is processed anyway."""
    done = History(INSTANCE, KEY).activity("agent_step", report(False)).episode().event_raised("wake")
    assert replay(functions, done)["isDone"]
    fresh = History(INSTANCE, KEY, START + timedelta(seconds=2))  # next generation; the wake was lost
    first = last(replay(functions, fresh))
    assert first["actionType"] == CALL and first["functionName"] == "agent_step"
    fresh.activity("agent_step", report(True)).activity("agent_step", report(False))
    assert last(replay(functions, fresh))["actionType"] == WAIT_EVENT
