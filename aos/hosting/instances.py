"""The durable side of an agent: its orchestration instance, driven through the durable client.

One orchestration per agent; its instance id is derived from the agent key (`tenant/agent`), so any trigger
on any Functions instance addresses the same orchestration without a lookup. `Orchestrations` is the thin
interface over the few `DurableOrchestrationClient` calls used here, so tests can see what was asked of it.

Starting is "start if not running": host.json sets `overridableExistingInstanceStates: NonRunningStates`, so
a `start_new` racing another trigger's start fails instead of replacing a running orchestration (which
could run two steps of one agent at once, breaking invariant 3); the loser then raises `wake` instead.
"""

from __future__ import annotations

import abc
import logging
from typing import Any

log = logging.getLogger("aos.hosting")

ORCHESTRATOR = "agent_orchestrator"
WAKE = "wake"
_PREFIX = "aos-agent:"
#: Runtime statuses in which an orchestration receives external events.
LIVE = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})


def instance_id(key: str) -> str:
    """`tenant/agent` → `aos-agent:tenant:agent`. Instance ids may not contain `/`; tenants and agent ids are
    slugs (no `:`), so the mapping is reversible and collision-free."""
    tenant, _, agent_id = key.partition("/")
    return f"{_PREFIX}{tenant}:{agent_id}"


def key_of(instance: str) -> str:
    if not instance.startswith(_PREFIX):
        raise ValueError(f"'{instance}' is not an AOS agent instance id")
    tenant, _, agent_id = instance[len(_PREFIX):].partition(":")
    return f"{tenant}/{agent_id}"


class DurableCallFailed(Exception):
    """The Durable extension refused a management call (instance gone, already running, host error)."""


class Orchestrations(abc.ABC):
    """The durable-client calls AOS makes. Each raises `DurableCallFailed` when the extension refuses."""

    @abc.abstractmethod
    async def status(self, instance: str) -> str | None:
        """The runtime status name (`Running`, `Completed`, ...), or None if there is no such instance."""

    @abc.abstractmethod
    async def start(self, instance: str, key: str) -> None: ...

    @abc.abstractmethod
    async def raise_wake(self, instance: str) -> None: ...

    @abc.abstractmethod
    async def terminate(self, instance: str, reason: str) -> None: ...

    @abc.abstractmethod
    async def purge(self, instance: str) -> None: ...


class DurableClientOrchestrations(Orchestrations):
    """Over the invocation's `DurableOrchestrationClient` (the `durable_client_input` binding)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def status(self, instance: str) -> str | None:
        try:
            found = await self._client.get_status(instance)
        except Exception as e:  # the SDK raises bare Exception with the extension's message
            raise DurableCallFailed(f"get_status failed [instance={instance}]: {e}") from e
        runtime = getattr(found, "runtime_status", None)
        return None if runtime is None else str(runtime.value)

    async def start(self, instance: str, key: str) -> None:
        try:
            await self._client.start_new(ORCHESTRATOR, instance, key)
        except Exception as e:
            raise DurableCallFailed(f"start_new failed [instance={instance}]: {e}") from e

    async def raise_wake(self, instance: str) -> None:
        try:
            await self._client.raise_event(instance, WAKE, None)
        except Exception as e:
            raise DurableCallFailed(f"raise_event failed [instance={instance}]: {e}") from e

    async def terminate(self, instance: str, reason: str) -> None:
        try:
            await self._client.terminate(instance, reason)
        except Exception as e:
            raise DurableCallFailed(f"terminate failed [instance={instance}]: {e}") from e

    async def purge(self, instance: str) -> None:
        try:
            await self._client.purge_instance_history(instance)
        except Exception as e:
            raise DurableCallFailed(f"purge_instance_history failed [instance={instance}]: {e}") from e


async def wake(orchestrations: Orchestrations, key: str) -> str:
    """Make the agent's orchestration look at its mailbox: raise `wake` if it is live, else start it.

    Returns what was done (`raised` / `started`). Either step may lose a race with the instance finishing or
    another trigger starting it; one fallback covers each race, and if both fail the mailbox still holds the
    work and the self-heal sweep wakes it later (invariant 1)."""
    instance = instance_id(key)
    if await orchestrations.status(instance) in LIVE:
        try:
            await orchestrations.raise_wake(instance)
            return "raised"
        except DurableCallFailed:
            log.info("%s finished while being woken; starting it again", instance)
    try:
        await orchestrations.start(instance, key)
        return "started"
    except DurableCallFailed:
        await orchestrations.raise_wake(instance)  # someone else started it first
        return "raised"


async def stop(orchestrations: Orchestrations, key: str, reason: str, *, purge: bool = False) -> None:
    """Terminate the agent's orchestration if it is live; with `purge`, also delete its history."""
    instance = instance_id(key)
    if await orchestrations.status(instance) in LIVE:
        await orchestrations.terminate(instance, reason)
    if purge:
        await orchestrations.purge(instance)
