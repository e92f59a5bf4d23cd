"""Python brains of the azure-local end-to-end test (importable as tests.integration.e2e_brains:NAME)."""

from __future__ import annotations

from typing import Any


async def triage(ctx: Any, events: list[Any]) -> list[dict[str, Any]]:
    """Writes a note through its own ContextMCPServer, then messages `responder` about each ticket."""
    session = await ctx.context()
    await session.call("block_write", {"label": "working_notes",
                                       "value": f"triaged {', '.join(str(e.data['ticket']) for e in events)}"})
    return [{"kind": "send", "to": "responder", "type": "ticket.triaged", "data": e.data} for e in events]


def responder(ctx: Any, events: list[Any]) -> list[dict[str, Any]]:
    """Emits an answer for each triaged ticket (no target: it leaves AOS through aos-outbox)."""
    return [{"kind": "emit", "type": "ticket.answered", "subject": str(e.data["ticket"]),
             "data": {"ticket": e.data["ticket"], "answer": "have you tried turning it off and on again?"}}
            for e in events]
