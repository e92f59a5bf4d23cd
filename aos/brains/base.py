"""What a brain is: given an agent's view of the world and a batch of events, decide effects.

A brain never applies anything itself. It returns a `Decision`; the kernel journals it before applying it, so a
retried step reuses the decision instead of asking the brain again (invariant 2). A brain that cannot decide
raises `BrainError` (or `NotConfigured`) with what to do about it; it never returns a made-up answer.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aos.model import AgentSpec, Decision, Event

if TYPE_CHECKING:  # the kernel imports brains; brains only need the session's type
    from aos.kernel.context import ContextSession


@dataclass
class BrainContext:
    """Everything a brain may look at for one step. `context()` opens the agent's ContextMCPServer session
    lazily: brains that never touch their context pay nothing for it."""

    tenant: str
    spec: AgentSpec
    seq: int
    state: dict[str, Any]
    open_context: Callable[[], Awaitable[ContextSession | None]] = field(repr=False)
    #: The kernel's governance hook (policy + budgets) for this step; None when nothing is governed.
    guard: Callable[..., Awaitable[None]] | None = field(default=None, repr=False)
    #: The brain's settings with every `@keyvault:` reference resolved to a `Secret` (`.reveal()` for the
    #: value), filled at use by brains that hand settings to code (python). `spec.brain.settings` keeps the
    #: references: that is what is stored, journaled and shown.
    settings: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def agent_id(self) -> str:
        return self.spec.id

    async def context(self) -> ContextSession | None:
        """The agent's context session, or None when the host runs without ContextMCPServers."""
        return await self.open_context()

    async def check(self, action: str, **facts: Any) -> None:
        """Ask the kernel before a model call (`model.call`, with `tokens` spent so far in this step) or a tool
        call (`tool.call:NAME`). Raises `PolicyDenied` or `BudgetExceeded`; the call must then not be made."""
        if self.guard is not None:
            await self.guard(action, **facts)


class Brain(abc.ABC):
    """Decides one step. Implementations must be safe to call concurrently for different agents."""

    @abc.abstractmethod
    async def decide(self, ctx: BrainContext, events: list[Event]) -> Decision: ...


class BrainFactory(abc.ABC):
    """Turns a spec's `brain` section into a `Brain`.

    `check` runs at registration: it raises `ValidationFailed` for bad settings and `NotConfigured` when the
    brain needs configuration the host lacks, so an agent that could never think is refused up front.
    `verify` is its asynchronous half (I/O such as "does this secret exist"), run right after `check`.
    """

    @abc.abstractmethod
    def check(self, spec: AgentSpec) -> None: ...

    async def verify(self, spec: AgentSpec) -> None:
        """Checks that need I/O; same errors as `check`. An outage of what is checked must not raise."""

    @abc.abstractmethod
    def build(self, spec: AgentSpec) -> Brain: ...
