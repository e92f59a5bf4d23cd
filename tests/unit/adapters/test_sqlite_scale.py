"""Idle agents cost nothing: with 20,000 idle agents in the database, the boot-time and per-event queries
do a bounded amount of SQLite work (counted in VM instructions), not a scan of every agent."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from aos.adapters.embedded import ManualClock, SqliteDatabase, sqlite_stores
from aos.model import AgentRecord, AgentSpec, AgentState, BrainSpec, Subscription
from aos.ports import Stores

pytestmark = pytest.mark.anyio

IDLE = 20_000
#: SQLite calls the progress handler every this many VM instructions; a scan of IDLE rows needs > 100 calls.
TICK = 1000


class Probe:
    """Counts SQLite VM work on the writer connection while installed."""

    def __init__(self) -> None:
        self.ticks = 0

    def tick(self) -> int:
        self.ticks += 1
        return 0


@asynccontextmanager
async def counted(db: SqliteDatabase) -> AsyncIterator[Probe]:
    probe = Probe()
    await db.read(lambda conn: conn.set_progress_handler(probe.tick, TICK))
    try:
        yield probe
    finally:
        await db.read(lambda conn: conn.set_progress_handler(None, TICK))


def _idle_rows(conn: sqlite3.Connection, clock: ManualClock) -> None:
    base = AgentRecord(
        tenant="acme",
        spec=AgentSpec(
            id="idle-0000", brain=BrainSpec(kind="python"), subscriptions=[Subscription(type="x.*")]
        ),
        state=AgentState.ACTIVE,
        next_wake_at=clock.now() + timedelta(days=1),
    )
    wake = 1_000_000 * 10**10
    for i in range(IDLE):
        agent_id = f"idle-{i:05d}"
        record = base.model_copy(
            update={"spec": base.spec.model_copy(update={"id": agent_id})}
        ).model_dump_json()
        conn.execute(
            "INSERT INTO agents VALUES ('acme', ?, 'active', 1, ?, ?, ?)",
            (agent_id, wake, json.dumps([["x.*"], []]), record),
        )
        conn.execute("INSERT INTO agent_subscriptions VALUES ('acme', 'x.*', ?)", (agent_id,))
        conn.execute(
            "INSERT INTO events (tenant, event_id, type, event, delivered_to, accepted_at)"
            " VALUES ('acme', ?, 'x.y', '{}', '[]', '')",
            (f"old-{i}",),
        )
        conn.execute(
            "INSERT INTO mailbox (key, event_id, pos, status, seq) VALUES (?, ?, last_insert_rowid(), 'done', 1)",
            (f"acme/{agent_id}", f"old-{i}"),
        )


@pytest.fixture
async def big(tmp_path: Path) -> AsyncIterator[tuple[Stores, SqliteDatabase, ManualClock]]:
    clock = ManualClock()
    db = SqliteDatabase(tmp_path / "aos.db")
    stores = sqlite_stores(db, tmp_path, clock)
    await db.start()
    await db.write(lambda conn: _idle_rows(conn, clock))
    await db.write(lambda conn: conn.execute("ANALYZE"))
    try:
        yield stores, db, clock
    finally:
        await db.close()


async def test_boot_and_routing_queries_do_not_scan_idle_agents(
    big: tuple[Stores, SqliteDatabase, ManualClock],
) -> None:
    stores, db, clock = big
    async with counted(db) as probe:
        assert await stores.mailbox.keys_with_work() == []
        assert await stores.registry.due(clock.now()) == []
        assert await stores.registry.subscribers("acme", "a.b.c") == []
        assert await stores.mailbox.pending("acme/idle-00042") == 0
        assert await stores.mailbox.begin_step("acme/idle-00042", "idle-00042", 10) is None
        page, cursor = await stores.registry.list("acme", state=AgentState.SUSPENDED)
        assert page == [] and cursor is None
        page, cursor = await stores.registry.list("acme", labels={"team": "nobody"})
        assert page == [] and cursor is None
        page, cursor = await stores.registry.list("acme", limit=5)
        assert len(page) == 5 and cursor is not None
    assert probe.ticks < 10, f"{probe.ticks * TICK} SQLite VM steps: a query scans the idle agents"


async def test_the_probe_does_see_a_scan(big: tuple[Stores, SqliteDatabase, ManualClock]) -> None:
    """Guards the test above: a query that does scan the agents shows up in the count."""
    stores, db, _ = big
    async with counted(db) as probe:
        assert await stores.registry.count() == IDLE
        await db.read(
            lambda conn: conn.execute("SELECT count(*) FROM mailbox WHERE status = 'done'").fetchone()
        )
    assert probe.ticks >= 10
