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

from datetime import datetime
from typing import Any, Generator

import azure.durable_functions as df

STEP_ACTIVITY = "agent_step"
RESTART_ACTIVITY = "agent_restart"
WAKE_EVENT = "wake"
STEPS_PER_GENERATION = 50
#: A step that throws (storage down, host crash) is retried twice, 5 s then 10 s later, then the
#: orchestration fails; the sweep starts a new one while the agent has mail.
STEP_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)


def agent_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    key = context.get_input()
    report: dict[str, Any] = {}
    for _ in range(STEPS_PER_GENERATION):
        report = yield context.call_activity_with_retry(STEP_ACTIVITY, STEP_RETRY, key)
        if not report["more"]:
            break
    else:
        context.continue_as_new(key)  # busy agent: bound the history, keep going
        return None
    state = report["state"]
    if state == "failed" and report.get("restart_at"):
        yield context.create_timer(_at(report["restart_at"]))
        yield context.call_activity_with_retry(RESTART_ACTIVITY, STEP_RETRY, key)
        context.continue_as_new(key)
        return None
    if state != "active":
        return {"agent": key, "ended": state}
    wake = context.wait_for_external_event(WAKE_EVENT)
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
