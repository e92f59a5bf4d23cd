"""The kernel and its ContextMCPServers: provisioned at register, used by brains, recorded per step, purged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aos.config import Config
from aos.runtime import System

from .conftest import drain, event, spec

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "embedded"])
async def system(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[System]:  # type: ignore[no-untyped-def]
    config = Config(backend=request.param, data_dir=tmp_path, admin_key="k" * 20)
    async with System.open(config, run=False) as sys:
        yield sys


async def test_brain_reads_and_writes_context_and_steps_are_journaled(system: System) -> None:
    kernel = system.kernel
    assert kernel.context is not None
    await kernel.register("acme", spec("scribe", entry="remember", purpose="keep notes",
                                       subscriptions=[{"type": "*"}]))
    await kernel.publish("acme", event("thing.happened", id="e-1"))
    assert await drain(kernel, "acme/scribe") == 1
    [step] = await kernel.steps("acme", "scribe")
    assert step.decision is not None and step.decision.effects[0].text == "my purpose is: keep notes"  # type: ignore[union-attr]

    async with kernel.context.session("acme", "scribe") as session:
        notes = await session.call("block_read", {"label": "working_notes"})
        assert notes["value"] == "saw 1 event(s)"
        page = await session.call("journal_page", {})
        kinds = [e["kind"] for e in page["entries"]]
        assert kinds == ["step", "note"]
        assert page["entries"][0]["data"]["events"][0]["id"] == "e-1"
        before = len(page["entries"])
    # recording the same step again (a retried step) adds nothing
    await kernel.context.record_step("acme", "scribe", step.seq, step.events, step.decision)
    async with kernel.context.session("acme", "scribe") as session:
        assert len((await session.call("journal_page", {}))["entries"]) == before


async def test_purge_removes_the_context_and_says_so(system: System) -> None:
    kernel = system.kernel
    await kernel.register("acme", spec("scribe", purpose="keep notes"))
    removed = await kernel.retire("acme", "scribe", purge=True)
    assert removed["removed"]["context"]["blocks"] >= 1
    assert kernel.context is not None
    await kernel.register("acme", spec("scribe", purpose="a new life"))
    async with kernel.context.session("acme", "scribe") as session:
        assert (await session.call("block_read", {"label": "purpose"}))["value"] == "a new life"
        assert (await session.call("journal_page", {}))["entries"] == []


async def test_retire_keeps_the_context(system: System) -> None:
    kernel = system.kernel
    await kernel.register("acme", spec("scribe", purpose="keep notes"))
    await kernel.retire("acme", "scribe")
    assert kernel.context is not None
    async with asyncio.timeout(5), kernel.context.session("acme", "scribe") as session:
        assert (await session.call("block_read", {"label": "purpose"}))["value"] == "keep notes"
