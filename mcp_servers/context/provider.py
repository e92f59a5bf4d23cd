"""`ContextMCPProvider`: the kernel's way into agents' contexts (see `aos.kernel.context`).

Sessions are real MCP client sessions (the SDK's `Client` on the in-process server), so a brain reads and
writes its context exactly as an external MCP client does. `record_step` writes through the same store with
ids `step-{seq}-{index}`, so recording a retried step adds nothing.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from mcp import Client
from mcp_types import CallToolResult, TextContent

from aos import errors

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup
from aos.kernel.context import ContextProvider, ContextSession
from aos.model import Decision, Event, NoteEffect, agent_key
from aos.ports import BlobStore, ContextStore, NewEntry
from mcp_servers.context.compaction import Budget, Compactor, Summarizer
from mcp_servers.context.server import build_server

#: Error kinds a tool result names (`kind: detail`) mapped back to the AOS error the caller sees.
_KINDS: dict[str, type[errors.AosError]] = {
    "version-conflict": errors.VersionConflict,
    "not-found": errors.NotFound,
    "payload-too-large": errors.PayloadTooLarge,
    "storage-unavailable": errors.StorageError,
}
_PREFIX = "Error executing tool "


def tool_error(tool: str, result: CallToolResult) -> errors.AosError:
    """The AOS error for an `is_error` tool result: its kind when the server named one, else ValidationFailed."""
    text = " ".join(c.text for c in result.content if isinstance(c, TextContent)) or "tool failed"
    text = text.removeprefix(_PREFIX + tool + ": ")
    kind, sep, detail = text.partition(": ")
    cls = _KINDS.get(kind) if sep else None
    if cls is None:
        return errors.ValidationFailed(f"context tool '{tool}' refused the call: {text}", tool=tool)
    return cls(detail, tool=tool)


class McpContextSession(ContextSession):
    def __init__(self, client: Client) -> None:
        self._client = client

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self._client.call_tool(tool, arguments)
        if result.is_error:
            raise tool_error(tool, result)
        if not isinstance(result.structured_content, dict):
            raise errors.BrainError(f"context tool '{tool}' returned no structured result", tool=tool)
        return result.structured_content

    async def tools(self) -> list[dict[str, Any]]:
        listed = await self._client.list_tools()
        return [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in listed.tools
        ]


class ContextMCPProvider(ContextProvider):
    """Construct once per host: `ContextMCPProvider(stores.context, stores.blobs, budget=Budget(...))`.

    `blobs` is accepted for the hosts' convenience and not used: the ContextStore writes its own blobs.

    `summarizer_for(tenant, agent_id)` may return the agent's brain as a summarizer (or None for the
    extractive default); it is asked each time a session or step needs one.
    """

    def __init__(
        self,
        store: ContextStore,
        blobs: BlobStore | None = None,
        *,
        budget: Budget | None = None,
        summarizer_for: Callable[[str, str], Summarizer | None] | None = None,
    ) -> None:
        self.store = store
        self.budget = budget or Budget()
        self._summarizer_for = summarizer_for

    def _summarizer(self, tenant: str, agent_id: str) -> Summarizer | None:
        return self._summarizer_for(tenant, agent_id) if self._summarizer_for else None

    async def provision(self, tenant: str, agent_id: str, purpose: str) -> None:
        limit = max(len(purpose.encode()), ContextStore.DEFAULT_BLOCK_LIMIT)
        await self.store.put_block(agent_key(tenant, agent_id), "purpose", purpose, limit=limit, force=True)

    def session(self, tenant: str, agent_id: str) -> AbstractAsyncContextManager[ContextSession]:
        return self._session(tenant, agent_id)

    @asynccontextmanager
    async def _session(self, tenant: str, agent_id: str) -> AsyncIterator[ContextSession]:
        server = build_server(
            self.store, tenant, agent_id, budget=self.budget, summarizer=self._summarizer(tenant, agent_id)
        )
        try:
            async with Client(server, cache=None) as client:
                yield McpContextSession(client)
        except BaseExceptionGroup as group:
            raise _single(group) from None

    async def record_step(
        self, tenant: str, agent_id: str, seq: int, events: Sequence[Event], decision: Decision
    ) -> None:
        """One `step` entry (what the step received and what it decided, searchable; the events and decision
        are in its data) and one `note` entry per note. Why one entry: a step takes up to
        `max_events_per_step` events, and each indexed entry is a full-text insert, which made journaling the
        largest cost of a step (bench/wakes.py)."""
        key = agent_key(tenant, agent_id)
        effects = ", ".join(f.kind for f in decision.effects) or "no effects"
        text = f"{_received(events)} → {decision.summary or 'decided: ' + effects}"
        data = {"seq": seq, "events": [e.wire() for e in events], "decision": decision.model_dump(mode="json")}
        notes = [f for f in decision.effects if isinstance(f, NoteEffect)]
        rest = [NewEntry("note", note.text, id=f"step-{seq}-note-{i}") for i, note in enumerate(notes)]
        try:
            out = await self.store.append(key, [NewEntry("step", text, data=data, id=f"step-{seq}"), *rest])
        except errors.PayloadTooLarge:
            # Over ContextStore.MAX_ENTRY_BYTES (big events or effects; a note is at most 16,000 characters):
            # the entry keeps what identifies them, whole in the event log and the step journal.
            out = await self.store.append(key, [NewEntry("step", text, data=_outline(seq, events, decision),
                                                         id=f"step-{seq}"), *rest])
        if self.budget.over(out.stats):
            await Compactor(self.store, self.budget, self._summarizer(tenant, agent_id)).maybe_compact(
                key, out.stats
            )

    async def purge(self, tenant: str, agent_id: str) -> dict[str, int]:
        return await self.store.purge(agent_key(tenant, agent_id))


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error a session's task group wrapped (the caller's own), so callers see what they raised."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _outline(seq: int, events: Sequence[Event], decision: Decision) -> dict[str, Any]:
    return {
        "seq": seq,
        "events": [{"id": e.id, "type": e.type, "source": e.source, "subject": e.subject} for e in events],
        "decision": {"summary": decision.summary, "effects": [f.kind for f in decision.effects]},
        "truncated": f"over {ContextStore.MAX_ENTRY_BYTES} bytes: the events are whole in the event log "
                     f"(GET /api/events), the decision in the step journal (GET /api/agents/{{id}}/steps)",
    }


def _received(events: Sequence[Event]) -> str:
    """`ticket.created from web (T-1)` for one event; `3 events: ticket.created ×2, ticket.closed` for more."""
    if len(events) == 1:
        e = events[0]
        return f"{e.type} from {e.source}" + (f" ({e.subject})" if e.subject else "")
    counts: dict[str, int] = {}
    for e in events:
        counts[e.type] = counts.get(e.type, 0) + 1
    kinds = ", ".join(t if n == 1 else f"{t} ×{n}" for t, n in counts.items())
    return f"{len(events)} events: {kinds}"
