"""The perpetual agent: one orchestration instance per agent, a thin deterministic generator.

    loop:  agent_step while it reports a step (at most STEPS_PER_GENERATION, then continue_as_new)
           agent not active → end (suspend/retire also terminate it; resume/wake start it again)
           agent failed     → durable timer until `restart_at`, agent_restart, continue_as_new
                              (no `restart_at`: the restart budget is spent; end, an operator resumes)
           otherwise        → wait for the `wake` event or the durable timer of the next cron wake,
                              whichever first; continue_as_new

Every generation begins with a step, so a `wake` raised while the instance was continuing-as-new (which the
Python SDK drops) costs nothing: the mail it announced is already in the mailbox that first step reads. Any
other lost wake is repaired by the self-heal sweep. All I/O is in the activities; the only inputs here are
the orchestration input (the agent key) and activity results, so replay is deterministic.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

STEP_ACTIVITY = "agent_step"
RESTART_ACTIVITY = "agent_restart"
WAKE_EVENT = "wake"
STEPS_PER_GENERATION = 50
#: An activity that throws (storage down, worker crash) is retried after 5 s, then 10 s; the third failure
#: fails the orchestration (visible in its status), and the sweep starts a new one while the agent has mail.
#: The retry is written out here rather than `call_activity_with_retry`, whose retried tasks lose the
#: `expected_type` (azure-functions-durable 1.7 sets it on the wrapper only).
ATTEMPTS = 3
FIRST_RETRY_S = 5.0


class ActivityFailed(Exception):
    """An activity failed `ATTEMPTS` times; the message carries the last failure."""


def _call(context: df.DurableOrchestrationContext, name: str, key: str) -> Generator[Any, Any, dict[str, Any]]:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            result: dict[str, Any] = yield context.call_activity(name, key, expected_type=dict)
            return result
        except Exception as e:  # the engine raises a bare Exception("reason \n details")
            if attempt == ATTEMPTS:
                raise ActivityFailed(f"{name}({key}) failed {ATTEMPTS} times; last: {e}") from e
            delay = timedelta(seconds=FIRST_RETRY_S * 2 ** (attempt - 1))
            yield context.create_timer(context.current_utc_datetime + delay)
    raise AssertionError("unreachable")


def agent_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    key = context.get_input(expected_type=str)
    report: dict[str, Any] = {}
    for _ in range(STEPS_PER_GENERATION):
        report = yield from _call(context, STEP_ACTIVITY, key)
        if not report["more"]:
            break
    else:
        context.continue_as_new(key)  # busy agent: bound the history, keep going
        return None
    state = report["state"]
    if state == "failed" and report.get("restart_at"):
        yield context.create_timer(_at(report["restart_at"]))
        yield from _call(context, RESTART_ACTIVITY, key)
        context.continue_as_new(key)
        return None
    if state != "active":
        return {"agent": key, "ended": state}
    wake = context.wait_for_external_event(WAKE_EVENT, expected_type=object)
    if report.get("next_wake_at"):
        timer = context.create_timer(_at(report["next_wake_at"]))
        winner = yield context.task_any([wake, timer])
        if winner is wake:
            timer.cancel()
    else:
        yield wake
    context.continue_as_new(key)
    return None


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)
