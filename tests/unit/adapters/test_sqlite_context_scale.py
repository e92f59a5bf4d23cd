"""An append's cost does not grow with the context: with 20,000 journal entries and 1,000 blocks, appending one
entry (and computing the stats it returns) does a bounded amount of SQLite work, counted in VM instructions
(in thousands: `counted` ticks every 1,000)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from aos.adapters.embedded.context_sqlite import INDEX_BATCH, MERGE_PAGES, SqliteContextStore, _owner
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


WORDS = [
    "invoice", "ticket", "refund", "shipment", "customer", "order", "delay", "payment", "address", "parcel",
]  # fmt: skip


def _fill_indexed(conn: sqlite3.Connection, entries: int, blocks: int) -> None:
    """`_fill`, plus the search index rows the adapter writes: `bench/context.py`'s notes and blocks."""
    _fill(conn, entries, blocks)
    journal, block = _owner(KEY, "j"), _owner(KEY, "b")
    conn.executemany(
        "INSERT INTO ctx_fts (rowid, owner, body) SELECT rowid, ?, ? FROM ctx_entry "
        "WHERE key = ? AND seq = ?",
        (
            (journal, f"{WORDS[i % 10]} {i} {WORDS[i * 7 % 10]} note number {i}", KEY, i + 1)
            for i in range(entries)
        ),
    )
    conn.executemany(
        "INSERT INTO ctx_fts (rowid, owner, body) SELECT -rowid, ?, ? FROM ctx_block "
        "WHERE key = ? AND label = ?",
        ((block, f"b{i}\nblock {i}: a careful support agent", KEY, f"b{i}") for i in range(blocks)),
    )
    for _ in range((entries + blocks) // INDEX_BATCH):  # the bounded merge the adapter runs after each batch
        conn.execute("INSERT INTO ctx_fts (ctx_fts, rank) VALUES ('merge', ?)", (MERGE_PAGES,))


@asynccontextmanager
async def instructions(db: SqliteDatabase) -> AsyncIterator[list[int]]:
    """Every SQLite VM instruction, counted exactly (`counted` ticks per 1,000 within one statement, and a
    search runs a dozen small ones)."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    await db.read(lambda conn: conn.set_progress_handler(tick, 1))
    try:
        yield count
    finally:
        await db.read(lambda conn: conn.set_progress_handler(None, 1))


async def test_search_work_is_bounded_in_context_size(tmp_path: Path) -> None:
    """A search reads at most SEARCH_WINDOW matches per query word, however many entries hold the word: 2k-8k
    instructions for these queries. Ranking every match with bm25(), as search did before, ran ~16 per
    matching entry (bm25 itself, ~3 µs of C each, is not counted): 32k for "invoice" (2,000 entries hold it),
    122k for "refund parcel" (8,000)."""
    db = SqliteDatabase(tmp_path / "aos.db")
    store = SqliteContextStore(db, DictBlobs())
    await db.start()
    try:
        await db.write(lambda conn: _fill_indexed(conn, 20_000, 1_000))
        counts = {}
        for query in (
            "invoice",
            "payment 17",
            "refund parcel",
            "careful agent",
            "invoice payment refund note",
        ):
            async with instructions(db) as count:
                hits = await store.search(KEY, query, limit=10)
            counts[query] = count[0]
            assert len(hits) == 10, query
        assert [(h.source, h.ref) for h in (await store.search(KEY, "payment 17"))[:2]] == [
            ("journal", "e18"),  # the note of i = 17, the only entry with both words, 19,983 entries back
            ("block", "b17"),
        ]
        assert max(counts.values()) <= 12_000, f"searches ran {counts} SQLite instructions"
    finally:
        await db.close()


async def test_appended_entries_reach_the_index_in_bulk_and_a_search_or_a_reopen_loses_none(tmp_path: Path) -> None:
    from aos.adapters.embedded.context_sqlite import INDEX_BATCH

    def queued(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM ctx_fts_queue").fetchone()[0])

    db = SqliteDatabase(tmp_path / "aos.db")
    store = SqliteContextStore(db, DictBlobs())
    await db.start()
    try:
        await store.append(KEY, [NewEntry("note", "the parcel left the depot")])
        assert await db.read(queued) == 1  # waiting for the index, durable with its entry
    finally:
        await db.close()  # a crash keeps it as well: it is in the same transaction as the entry
    db = SqliteDatabase(tmp_path / "aos.db")
    store = SqliteContextStore(db, DictBlobs())
    await db.start()
    try:
        hits = await store.search(KEY, "parcel")  # a search indexes the queue first
        assert [h.seq for h in hits] == [1]
        assert await db.read(queued) == 0
        appends = INDEX_BATCH // 50 + 2  # the last one finds a full queue and indexes it first
        for lo in range(0, appends * 50, 50):
            await store.append(KEY, [NewEntry("note", f"invoice n{n}") for n in range(lo, lo + 50)])
        assert await db.read(queued) == 50
        for n in (0, INDEX_BATCH, appends * 50 - 1):  # indexed in bulk, or still queued until this search
            assert [h.snippet for h in await store.search(KEY, f"n{n}")] == [f"invoice n{n}"]
    finally:
        await db.close()
