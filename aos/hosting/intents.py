"""From kernel notifications to durable-client calls, per Functions invocation.

The kernel is a process-wide object with one `Notifier`; a durable client exists only inside one invocation
(its `durable_client_input` binding). `HostedNotifier` bridges the two through a context variable: each
trigger runs its kernel calls inside `collecting()`, the notifier records which agents got mail and whose
lifecycle changed into that invocation's `Intents`, and the trigger then `apply`s them through its own client.

A notification outside any `collecting()` block is dropped with a log line: that costs latency, not data,
because the mailbox is the source of truth and the self-heal sweep re-wakes agents with work (invariant 1).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from aos.hosting.instances import DurableCallFailed, Orchestrations, stop, wake
from aos.kernel.notify import Notifier

log = logging.getLogger("aos.hosting")


@dataclass
class Intents:
    """What one invocation must tell the durable side. Insertion-ordered, deduplicated per agent."""

    wakes: dict[str, None] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)

    def discard(self, key: str) -> None:
        """Forget the agent the current activity is stepping: its own orchestration loops anyway."""
        self.wakes.pop(key, None)
        self.states.pop(key, None)


_CURRENT: ContextVar[Intents | None] = ContextVar("aos_hosting_intents", default=None)


@contextmanager
def collecting() -> Iterator[Intents]:
    intents = Intents()
    token = _CURRENT.set(intents)
    try:
        yield intents
    finally:
        _CURRENT.reset(token)


class HostedNotifier(Notifier):
    """The kernel's notifier in the Functions host: records into the current invocation's `Intents`."""

    async def notify(self, key: str) -> None:
        intents = _CURRENT.get()
        if intents is None:
            log.info("wake for %s outside an invocation dropped; the sweep re-wakes it", key)
            return
        intents.wakes[key] = None

    async def lifecycle(self, key: str, state: str) -> None:
        intents = _CURRENT.get()
        if intents is None:
            log.warning("lifecycle %s → %s outside an invocation: its orchestration is not told", key, state)
            return
        intents.states.pop(key, None)
        intents.states[key] = state


async def apply(intents: Intents, orchestrations: Orchestrations) -> dict[str, str]:
    """Drive the durable client; returns {key: what was done}.

    Lifecycle first: `active` starts (or wakes) the orchestration, `suspended`/`retired` terminate it,
    `purged` terminates and deletes its history, `failed` leaves it to restart the agent with backoff. Then
    the wakes for agents not handled above. A refused call is logged, never raised: the kernel's change is
    already durable, and every durable-side gap heals by itself (a stray orchestration sees the agent is
    not active at its next step and ends; a missing one is started by the next wake or sweep)."""
    done: dict[str, str] = {}
    for key, state in intents.states.items():
        try:
            if state == "active":
                done[key] = await wake(orchestrations, key)
            elif state in ("suspended", "retired", "purged"):
                await stop(orchestrations, key, f"agent {state}", purge=state == "purged")
                done[key] = "purged" if state == "purged" else "terminated"
        except DurableCallFailed as e:
            log.warning("durable side of %s not updated for %s: %s", key, state, e)
            done[key] = "failed"
    for key in intents.wakes:
        if key in done or intents.states.get(key) in ("suspended", "retired", "purged"):
            continue
        try:
            done[key] = await wake(orchestrations, key)
        except DurableCallFailed as e:
            log.warning("wake of %s not delivered (the sweep retries): %s", key, e)
            done[key] = "failed"
    return done
