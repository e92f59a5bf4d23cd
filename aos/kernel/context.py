"""How the kernel reaches an agent's context (its ContextMCPServer) without importing the server.

`mcp_servers.context` implements `ContextProvider`; hosts pass it to the kernel. The brain's reads and writes
go through `ContextSession`, an MCP client session on the agent's own server, so the path a brain uses is the
path any external MCP client uses. The kernel's own bookkeeping (recording what a step saw and decided) goes
through `record_step`, which writes through the same `ContextStore` the server serves.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from aos.model import Decision, Event


class ContextSession(abc.ABC):
    """An open MCP client session on one agent's ContextMCPServer."""

    @abc.abstractmethod
    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call a context tool and return its structured result.

        Raises `aos.errors.ValidationFailed` (or a subclass of `AosError`) with the server's message when the
        tool answers with `is_error`.
        """

    @abc.abstractmethod
    async def tools(self) -> list[dict[str, Any]]:
        """The server's tools as `{"name", "description", "input_schema"}` dicts (for model tool calling)."""


class ContextProvider(abc.ABC):
    """Provisions, opens and purges per-agent contexts.

    Contract:
    - `provision` is idempotent: it creates the agent's context if absent and writes `purpose` into the
      `purpose` block (overwriting a previous purpose).
    - `session` opens an MCP client session on that agent's server (in-process transport).
    - `record_step` appends what a step saw and decided to the agent's context journal; entries carry ids
      derived from (seq, index) so recording the same step twice adds nothing.
    - `purge` deletes everything the context holds (blocks, journal, archives) and returns counts by kind.
    """

    @abc.abstractmethod
    async def provision(self, tenant: str, agent_id: str, purpose: str) -> None: ...

    @abc.abstractmethod
    def session(self, tenant: str, agent_id: str) -> AbstractAsyncContextManager[ContextSession]: ...

    @abc.abstractmethod
    async def record_step(
        self, tenant: str, agent_id: str, seq: int, events: Sequence[Event], decision: Decision
    ) -> None: ...

    @abc.abstractmethod
    async def purge(self, tenant: str, agent_id: str) -> dict[str, int]: ...
