"""A `python` brain: escalates a customer who has `threshold` tickets open at once.

What it shows, for writing your own (see the README, "Write a brain in Python"):

- the signature: `decide(ctx, events)`, plain or `async`, returning a list of effects (dicts or models);
- `ctx.state`: the agent's persistent state as of this step (a copy; change it with a `state` effect);
- `ctx.settings`: the spec's `brain.settings` (here `threshold`; a `@keyvault:` reference would arrive as a
  `Secret`);
- `ctx.context()`: the agent's own ContextMCPServer, through the same MCP tools any client uses; here it keeps a
  `watchlist` memory block that operators (and the agent's later steps) can read;
- effects: `emit` an event for whoever subscribes, a `note` in the agent's journal, a `state` update.

The kernel journals the decision before applying it: a retried step reuses the decision, so the effects happen
once. What a brain does itself (the block write here) may run again on a retry, so it should be idempotent: the
block is rewritten with the same value.

Events: `ticket.created` with `data.id` and `data.customer` opens a ticket (one without a customer is not
tracked); `ticket.resolved` (as triage emits it: `data.ticket`, or the event's subject) closes one.
"""

from __future__ import annotations

from typing import Any

from aos.brains.base import BrainContext
from aos.errors import NotFound
from aos.model import Event

WATCHLIST = "watchlist"


async def decide(ctx: BrainContext, events: list[Event]) -> list[dict[str, Any]]:
    threshold = int(ctx.settings.get("threshold", 3))
    before: dict[str, str] = dict(ctx.state.get("open", {}))  # ticket id → customer
    after = dict(before)
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        if event.type == "ticket.created" and data.get("id") and data.get("customer"):
            after[str(data["id"])] = str(data["customer"])
        elif event.type == "ticket.resolved":
            after.pop(str(data.get("ticket") or event.subject or ""), None)

    was, now = watchlist(before, threshold), watchlist(after, threshold)
    effects: list[dict[str, Any]] = []
    for customer, tickets in now.items():
        if customer not in was:
            effects.append({"kind": "emit", "type": "customer.escalated", "subject": customer,
                            "data": {"customer": customer, "open": tickets, "threshold": threshold}})
            effects.append({"kind": "note", "text": f"escalated {customer}: {len(tickets)} tickets open"})
    for customer in sorted(was.keys() - now.keys()):
        effects.append({"kind": "note", "text": f"{customer} is back under {threshold} open tickets"})
    if now != was:
        await write_watchlist(ctx, now)
    effects.append({"kind": "state", "set": {"open": after, "escalated": sorted(now)}})
    return effects


def watchlist(open_tickets: dict[str, str], threshold: int) -> dict[str, list[str]]:
    """The customers with at least `threshold` open tickets, each with those tickets (sorted)."""
    by_customer: dict[str, list[str]] = {}
    for ticket, customer in sorted(open_tickets.items()):
        by_customer.setdefault(customer, []).append(ticket)
    return {c: tickets for c, tickets in sorted(by_customer.items()) if len(tickets) >= threshold}


async def write_watchlist(ctx: BrainContext, value: dict[str, list[str]]) -> None:
    """Replace the `watchlist` block (JSON) in the agent's context. A block is replaced with the etag of the
    version read, so a concurrent writer (an operator's MCP client) is not overwritten blindly."""
    session = await ctx.context()
    if session is None:  # a host without ContextMCPServers
        return
    try:
        etag = (await session.call("block_read", {"label": WATCHLIST}))["etag"]
    except NotFound:  # no such block yet
        etag = None
    await session.call("block_write", {"label": WATCHLIST, "value": value, "kind": "json", "etag": etag})
