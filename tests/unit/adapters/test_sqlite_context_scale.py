"""An append's cost does not grow with the context: with 20,000 journal entries and 1,000 blocks, appending one
entry (and computing the stats it returns) does a bounded amount of SQLite work, counted in VM instructions
(in thousands: `counted` ticks every 1,000)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aos.adapters.embedded.context_sqlite import SqliteContextStore
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.ports import ContextStats, NewEntry
from tests.contract.test_context_store import DictBlobs
from tests.unit.adapters.test_sqlite_scale import counted

pytestmark = pytest.mark.anyio
KEY = "t1/agent-a"


def _fill(conn: sqlite3.Connection, entries: int, blocks: int) -> None:
    conn.executemany(
        "INSERT INTO ctx_entry VALUES (?,?,?,0,'note','n',NULL,NULL,1)",
        ((KEY, seq, f"e{seq}") for seq in range(1, entries + 1)),
    )
    conn.execute("INSERT INTO ctx_head VALUES (?,?,?,?)", (KEY, entries + 1, entries, entries))
    conn.executemany(
        "INSERT INTO ctx_block VALUES (?,?,'text','v',NULL,1,100,1,'e',0)",
        ((KEY, f"b{i}") for i in range(blocks)),
    )


async def test_append_work_is_flat_in_context_size(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "aos.db")
    store = SqliteContextStore(db, DictBlobs())
    await db.start()
    try:
        await db.write(lambda conn: _fill(conn, 20_000, 1_000))
        await db.write(lambda conn: conn.execute("DELETE FROM ctx_block_total"))
    finally:
        await db.close()
    db = SqliteDatabase(tmp_path / "aos.db")  # reopening counts the blocks once, as for an older database
    store = SqliteContextStore(db, DictBlobs())
    await db.start()
    try:
        async with counted(db) as probe:
            out = await store.append(KEY, [NewEntry("note", "one more")])
        assert out.stats == ContextStats(1_000, 1_000, 20_001, 20_008, 1, 20_001)
        # A scan of the 1,000 blocks alone takes 6 ticks; of the journal, 160.
        assert probe.ticks <= 2, f"an append ran {probe.ticks}k SQLite instructions: it scanned rows"
    finally:
        await db.close()
