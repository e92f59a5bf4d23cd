"""How the kernel tells a host that an agent has mail. Embedded: a ready queue. Azure: raise `wake` on the
agent's orchestration. A dropped notification costs latency, never data: the mailbox is the truth and the
host's self-heal sweep re-notifies agents with work (invariant 1)."""

from __future__ import annotations

import abc


class Notifier(abc.ABC):
    #: True for a notifier that only wakes workers of this process and never suspends in `notify` (the
    #: embedded host's ready queue): see `Mailbox.accepts_in_order`.
    in_process: bool = False

    @abc.abstractmethod
    async def notify(self, key: str) -> None:
        """Schedule a step for the agent with this key. Must not block on the step itself."""

    async def lifecycle(self, key: str, state: str) -> None:
        """The agent's lifecycle state changed and is stored (`active`, `suspended`, `failed`, `retired`, or
        `purged` once it is gone). Hosts that keep per-agent machinery start or stop it here (the Functions
        host: one orchestration per agent). Called after the change is durable; the default does nothing."""


class NoNotifier(Notifier):
    """For callers that drive `Kernel.run_step` themselves (tests, the Functions activity)."""

    def __init__(self) -> None:
        self.notified: list[str] = []

    async def notify(self, key: str) -> None:
        self.notified.append(key)
