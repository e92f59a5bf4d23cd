"""The python-brain example (`examples/escalation`), registered from its YAML as a user would, on the memory and
SQLite stores: what it emits, notes, keeps in state and writes to its context's `watchlist` block."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aos.config import Config
from aos.model import AgentSpec, Event
from aos.runtime import System

pytestmark = pytest.mark.anyio

SPEC = Path(__file__).resolve().parents[3] / "examples" / "escalation" / "escalation.yaml"
KEY = "acme/escalation"


@pytest.fixture(params=["memory", "embedded"])
async def system(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[System]:
    config = Config(backend=request.param, data_dir=tmp_path, admin_key="k" * 20)
    async with System.open(config, run=False) as sys:
        await sys.kernel.register("acme", AgentSpec.model_validate(yaml.safe_load(SPEC.read_text())))
        yield sys


def created(ticket: str, customer: str | None) -> Event:
    data: dict[str, Any] = {"id": ticket, "category": "billing"}
    if customer:
        data["customer"] = customer
    return Event(id=f"c-{ticket}", source="test", type="ticket.created", data=data)


def resolved(ticket: str) -> Event:  # as triage emits it
    return Event(id=f"r-{ticket}", source="aos://agents/triage", type="ticket.resolved", subject=ticket,
                 data={"ticket": ticket, "answer": "done", "by": "billing-desk"})


async def step(system: System, *events: Event) -> list[Any]:
    """Publish `events`, run the agent's steps; the effects it decided, in order."""
    for e in events:
        await system.kernel.publish("acme", e)
    effects: list[Any] = []
    while (outcome := await system.kernel.run_step(KEY)) is not None:
        assert outcome.status == "done", outcome
        [record] = await system.kernel.steps("acme", "escalation", limit=1)
        assert record.decision is not None
        effects += record.decision.effects
    return effects


async def watchlist(system: System) -> Any:
    assert system.kernel.context is not None
    async with system.kernel.context.session("acme", "escalation") as session:
        return (await session.call("block_read", {"label": "watchlist"}))["value"]


async def test_a_customer_is_escalated_once_at_the_threshold_and_back_under_it(system: System) -> None:
    effects = await step(system, created("T-1", "acme"), created("T-2", "acme"), created("T-3", "globex"))
    assert [e.kind for e in effects] == ["state"]  # two open for acme: under the threshold of 3

    effects = await step(system, created("T-4", "acme"))
    emitted = [e for e in effects if e.kind == "emit"]
    assert [(e.type, e.subject, e.data) for e in emitted] == [
        ("customer.escalated", "acme", {"customer": "acme", "open": ["T-1", "T-2", "T-4"], "threshold": 3})]
    assert [e.text for e in effects if e.kind == "note"] == ["escalated acme: 3 tickets open"]
    assert await watchlist(system) == {"acme": ["T-1", "T-2", "T-4"]}
    events = await system.kernel.events("acme", type_prefix="customer.escalated")
    assert [a.event.subject for a in events] == ["acme"]  # the emit was applied: it is in the event log

    effects = await step(system, created("T-5", "acme"))  # still escalated: not announced again
    assert [e.kind for e in effects] == ["state"]

    effects = await step(system, resolved("T-1"), resolved("T-2"), resolved("T-5"))
    assert [e.text for e in effects if e.kind == "note"] == ["acme is back under 3 open tickets"]
    assert await watchlist(system) == {}
    state, _ = await system.kernel.agent_state("acme", "escalation")
    assert state == {"open": {"T-3": "globex", "T-4": "acme"}, "escalated": []}


async def test_tickets_without_a_customer_and_unknown_resolutions_are_ignored(system: System) -> None:
    effects = await step(system, created("T-1", None), resolved("T-404"))
    assert [e.kind for e in effects] == ["state"]
    state, _ = await system.kernel.agent_state("acme", "escalation")
    assert state == {"open": {}, "escalated": []}


async def test_the_threshold_comes_from_the_spec_settings(system: System) -> None:
    spec = yaml.safe_load(SPEC.read_text())
    spec["id"], spec["brain"]["settings"]["threshold"] = "strict", 1
    await system.kernel.register("acme", AgentSpec.model_validate(spec))
    await system.kernel.publish("acme", created("T-9", "initech"))
    while (outcome := await system.kernel.run_step("acme/strict")) is not None:
        assert outcome.status == "done"
    events = await system.kernel.events("acme", type_prefix="customer.escalated")
    assert [(a.event.subject, a.event.data["threshold"]) for a in events] == [("initech", 1)]
