"""The I/O of the agent orchestration: one step, and the automatic restart of a failed agent.

The orchestration is deterministic and knows nothing but what these return, so each report carries all it
needs to decide: was there a step (`more`: try again), the agent's state, when its next cron wake is due,
and for a failed agent when (if at all) to restart it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from aos.errors import AgentNotFound, VersionConflict
from aos.kernel import Kernel, split_key
from aos.kernel.scheduler import next_wake, timer_event
from aos.model import AgentRecord, AgentState

log = logging.getLogger("aos.hosting")


async def deliver_due_wake(kernel: Kernel, record: AgentRecord) -> AgentRecord:
    """If the agent's cron wake is due, publish it and advance `next_wake_at`, like `Kernel.tick` does for
    all agents. The timer event's id is derived from the scheduled time, so this and the scheduler tick
    racing for the same wake deliver it once."""
    now = kernel.stores.clock.now()
    if record.state is not AgentState.ACTIVE or record.next_wake_at is None or record.next_wake_at > now:
        return record
    await kernel.publish(record.tenant, timer_event(record, record.next_wake_at, now))
    try:
        return await kernel.stores.registry.update(
            record.model_copy(update={"next_wake_at": next_wake(record.spec.schedule, now)}))
    except VersionConflict:
        return await kernel.get(record.tenant, record.id)


def restart_at(record: AgentRecord, budget: int, backoff_s: float) -> datetime | None:
    """When a failed agent is restarted: `backoff_s * 2**restarts` after it failed, while restarts < budget."""
    if record.state is not AgentState.FAILED or record.restarts >= budget:
        return None
    return record.updated_at + timedelta(seconds=backoff_s * (2 ** record.restarts))


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


async def agent_step(kernel: Kernel, key: str, *, budget: int, backoff_s: float) -> dict[str, Any]:
    """Run at most one step of the agent and report. Never raises for a missing or inactive agent."""
    tenant, agent_id = split_key(key)
    try:
        record = await deliver_due_wake(kernel, await kernel.get(tenant, agent_id))
    except AgentNotFound:
        return {"key": key, "more": False, "state": "purged", "next_wake_at": None, "restart_at": None}
    outcome = await kernel.run_step(key)
    if outcome is not None:
        record = await kernel.get(tenant, agent_id)
    return {
        "key": key,
        "more": outcome is not None,
        "step": None if outcome is None else {"seq": outcome.seq, "status": outcome.status,
                                              "events": outcome.events, "error": outcome.error},
        "state": record.state.value,
        "next_wake_at": _iso(record.next_wake_at),
        "restart_at": _iso(restart_at(record, budget, backoff_s)),
    }


async def agent_restart(kernel: Kernel, key: str, *, budget: int) -> dict[str, Any]:
    """Resume a failed agent if it is still failed and within its restart budget (an operator may have
    resumed, suspended or retired it meanwhile: then nothing happens)."""
    tenant, agent_id = split_key(key)
    try:
        record = await kernel.get(tenant, agent_id)
    except AgentNotFound:
        return {"key": key, "restarted": False, "state": "purged"}
    if record.state is not AgentState.FAILED or record.restarts >= budget:
        return {"key": key, "restarted": False, "state": record.state.value}
    record = await kernel.resume(tenant, agent_id)
    log.info("restarted failed agent %s (restart %d of %d)", key, record.restarts, budget)
    return {"key": key, "restarted": True, "state": record.state.value}
