"""Python brains for the governance tests (tests.unit.governance.brains:NAME)."""

from __future__ import annotations

from typing import Any

SEEN: list[Any] = []


def scripted(ctx: Any, events: list[Any]) -> list[dict[str, Any]]:
    """Returns the effects each event carries in `data.effects`; records every event it sees."""
    out: list[dict[str, Any]] = []
    for e in events:
        SEEN.append(e)
        if isinstance(e.data, dict):
            out += e.data.get("effects", [])
    return out


async def calls_model(ctx: Any, events: list[Any]) -> list[dict[str, Any]]:
    """Asks the kernel before a (pretend) model call, like the openai brain does."""
    await ctx.check("model.call", tokens=0)
    await ctx.check("model.call", tokens=120)
    return [{"kind": "note", "text": "thought about it"}]
