"""Python brains used by the kernel tests (importable as tests.unit.kernel.brains_for_tests:NAME)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

CALLS: Counter[str] = Counter()
IN_FLIGHT: Counter[str] = Counter()
MAX_IN_FLIGHT: dict[str, int] = {}
GLOBAL = {"in_flight": 0, "max": 0}


def reset() -> None:
    CALLS.clear()
    IN_FLIGHT.clear()
    MAX_IN_FLIGHT.clear()
    GLOBAL.update(in_flight=0, max=0)


def forward(ctx: Any, events: list[Any]) -> list[dict[str, Any]]:
    """Counts its calls and forwards every event's data to agent `sink` as one message each."""
    CALLS[ctx.agent_id] += 1
    return [{"kind": "send", "to": "sink", "type": "forwarded", "data": e.data} for e in events] + [
        {"kind": "state", "set": {"seen": ctx.state.get("seen", 0) + len(events)}}
    ]


def fan_out(ctx: Any, events: list[Any]) -> list[dict[str, Any]]:
    """Three messages per step: to `sink`, to `nobody` (unknown), then to `sink` again."""
    return [{"kind": "send", "to": to, "type": "fanned", "data": {"n": i}}
            for i, to in enumerate(("sink", "nobody", "sink"))]


def noop(ctx: Any, events: list[Any]) -> None:
    CALLS[ctx.agent_id] += 1


def unstorable(ctx: Any, events: list[Any]) -> list[dict[str, Any]]:
    return [{"kind": "emit", "type": "report.ready", "data": {"handle": object()}}]  # no JSON for an object


def leave(ctx: Any, events: list[Any]) -> None:
    raise SystemExit(3)  # what sys.exit(3) does


def explode(ctx: Any, events: list[Any]) -> None:
    CALLS[ctx.agent_id] += 1
    raise RuntimeError("boom: cannot handle " + events[0].type)


async def slow(ctx: Any, events: list[Any]) -> None:
    """Tracks how many steps of the same agent (and overall) run at once."""
    CALLS[ctx.agent_id] += 1
    IN_FLIGHT[ctx.agent_id] += 1
    GLOBAL["in_flight"] += 1
    MAX_IN_FLIGHT[ctx.agent_id] = max(MAX_IN_FLIGHT.get(ctx.agent_id, 0), IN_FLIGHT[ctx.agent_id])
    GLOBAL["max"] = max(GLOBAL["max"], GLOBAL["in_flight"])
    await asyncio.sleep(0.01)
    IN_FLIGHT[ctx.agent_id] -= 1
    GLOBAL["in_flight"] -= 1


async def hang(ctx: Any, events: list[Any]) -> None:
    await asyncio.sleep(3600)


not_callable = 42


async def remember(ctx: Any, events: list[Any]) -> list[dict[str, Any]]:
    """Reads its purpose and writes a working note through its own ContextMCPServer session."""
    session = await ctx.context()
    purpose = await session.call("block_read", {"label": "purpose"})
    await session.call("block_write", {"label": "working_notes", "value": f"saw {len(events)} event(s)"})
    return [{"kind": "note", "text": f"my purpose is: {purpose['value']}"}]
