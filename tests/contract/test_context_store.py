"""ContextStore contract, run against every adapter (add the Cosmos + Blob one as another param)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from aos.adapters.embedded import ManualClock
from aos.adapters.embedded.context_memory import MemoryContextStore
from aos.adapters.embedded.context_sqlite import SqliteContextStore
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.errors import NotFound, PayloadTooLarge, ValidationFailed, VersionConflict
from aos.ports import BlobRef, BlobStore, ContextStats, ContextStore, NewEntry

pytestmark = pytest.mark.anyio
KEY = "t1/agent-a"
OTHER = "t1/agent-b"


class DictBlobs(BlobStore):
    """The smallest honest BlobStore: enough to see what the context store puts there."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def put(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> BlobRef:
        self.data[name] = data
        return BlobRef(name, len(data), "")

    async def get(self, name: str) -> bytes:
        if name not in self.data:
            raise NotFound(f"blob '{name}' does not exist")
        return self.data[name]

    async def delete(self, name: str) -> bool:
        return self.data.pop(name, None) is not None

    async def list(self, prefix: str = "") -> list[BlobRef]:
        return [BlobRef(n, len(d), "") for n, d in sorted(self.data.items()) if n.startswith(prefix)]


@pytest.fixture
def blobs() -> DictBlobs:
    return DictBlobs()


@pytest.fixture(params=["memory", "sqlite", pytest.param("cosmos", marks=pytest.mark.integration)])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, blobs: DictBlobs
) -> AsyncIterator[ContextStore]:
    if request.param == "memory":
        yield MemoryContextStore(blobs)
        return
    if request.param == "cosmos":
        from tests.emulators.cosmos import cosmos_contract_stores

        stores = await cosmos_contract_stores(request.getfixturevalue("cosmos_endpoint"), ManualClock(), blobs)
        try:
            yield stores.context
        finally:
            await stores.close()
        return
    db = SqliteDatabase(tmp_path / "aos.db")
    s = SqliteContextStore(db, blobs)
    await db.start()
    try:
        yield s
    finally:
        await db.close()


async def test_block_create_read_replace_with_etag(store: ContextStore) -> None:
    b1 = await store.put_block(KEY, "persona", "calm")
    assert (b1.version, b1.value, b1.kind, b1.size) == (1, "calm", "text", 4)
    with pytest.raises(VersionConflict, match="already exists"):
        await store.put_block(KEY, "persona", "loud")
    b2 = await store.put_block(KEY, "persona", "loud", etag=b1.etag)
    assert b2.version == 2 and b2.etag != b1.etag
    with pytest.raises(VersionConflict, match="changed since"):
        await store.put_block(KEY, "persona", "stale", etag=b1.etag)
    got = await store.get_block(KEY, "persona")
    assert (got.value, got.etag) == ("loud", b2.etag)
    forced = await store.put_block(KEY, "persona", "forced", force=True)
    assert forced.version == 3


async def test_json_blocks_limits_and_listing(store: ContextStore) -> None:
    await store.put_block(KEY, "facts", {"a": [1, 2]}, kind="json", limit=100)
    with pytest.raises(PayloadTooLarge, match="over its limit of 100"):
        await store.put_block(KEY, "facts", {"a": "x" * 200}, kind="json", force=True)
    assert (await store.get_block(KEY, "facts")).value == {"a": [1, 2]}
    with pytest.raises(ValidationFailed, match="label"):
        await store.put_block(KEY, "Bad Label", "x")
    with pytest.raises(ValidationFailed, match="string"):
        await store.put_block(KEY, "notes", {"x": 1})
    await store.put_block(KEY, "alpha", "first")
    assert [b.label for b in await store.list_blocks(KEY)] == ["alpha", "facts"]
    assert await store.list_blocks(OTHER) == []
    with pytest.raises(NotFound):
        await store.get_block(OTHER, "alpha")


async def test_delete_block_with_etag(store: ContextStore) -> None:
    b = await store.put_block(KEY, "scratch", "x")
    with pytest.raises(VersionConflict):
        await store.delete_block(KEY, "scratch", etag="nope")
    assert await store.delete_block(KEY, "scratch", etag=b.etag) is True
    assert await store.delete_block(KEY, "scratch") is False
    again = await store.put_block(KEY, "scratch", "y")
    assert again.etag != b.etag and again.version == 1


async def test_append_is_idempotent_on_ids(store: ContextStore) -> None:
    first = await store.append(KEY, [NewEntry("event", "a", id="s1-0"), NewEntry("decision", "b", id="s1-1")])
    assert first.added == 2 and [e.seq for e in first.entries] == [1, 2]
    again = await store.append(KEY, [NewEntry("event", "a", id="s1-0"), NewEntry("note", "c")])
    assert again.added == 1 and again.entries[0].seq == 1 and again.entries[1].seq == 3
    assert again.stats.entries == 3
    page = await store.page(KEY)
    assert [e.text for e in page.entries] == ["a", "b", "c"]


async def test_paging_by_cursor_kind_and_time(store: ContextStore) -> None:
    t0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
    await store.append(
        KEY,
        [NewEntry("note" if i % 2 else "event", f"n{i}", ts=t0 + timedelta(minutes=i)) for i in range(25)],
    )
    seen, cursor = [], None
    while True:
        page = await store.page(KEY, cursor=cursor, limit=10)
        seen += [e.text for e in page.entries]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"n{i}" for i in range(25)]
    notes = await store.page(KEY, kinds=["note"], limit=100)
    assert [e.text for e in notes.entries] == [f"n{i}" for i in range(1, 25, 2)]
    window = await store.page(KEY, since=t0 + timedelta(minutes=5), until=t0 + timedelta(minutes=8))
    assert [e.text for e in window.entries] == ["n5", "n6", "n7"]
    newest = await store.page(KEY, newest_first=True, limit=3)
    assert [e.text for e in newest.entries] == ["n24", "n23", "n22"]
    older = await store.page(KEY, newest_first=True, limit=3, cursor=newest.next_cursor)
    assert [e.text for e in older.entries] == ["n21", "n20", "n19"]
    with pytest.raises(ValidationFailed, match="cursor"):
        await store.page(KEY, cursor="garbage!")


async def test_search_ranks_blocks_and_journal(store: ContextStore) -> None:
    await store.put_block(KEY, "persona", "A patient librarian who loves invoices")
    await store.append(
        KEY,
        [
            NewEntry("note", "invoice 42 was paid"),
            NewEntry("note", "weather is nice"),
            NewEntry("note", "invoice invoice overdue invoice"),
        ],
    )
    await store.append(OTHER, [NewEntry("note", "invoice of another agent")])
    hits = await store.search(KEY, "Invoice")
    refs = {(h.source, h.ref) for h in hits}
    assert ("block", "persona") not in refs or len(hits) == 3
    journal = [h for h in hits if h.source == "journal"]
    assert len(journal) == 2 and "overdue" in journal[0].snippet
    assert all(h.score > 0 for h in hits)
    assert await store.search(KEY, "  ?? ") == []
    only_blocks = await store.search(KEY, "librarian", sources=["block"])
    assert [(h.source, h.ref) for h in only_blocks] == [("block", "persona")]


async def test_search_puts_hits_with_every_word_first_then_rarer_words(store: ContextStore) -> None:
    await store.append(
        KEY,
        [NewEntry("note", "apple pie recipe"), NewEntry("note", "pie chart")]
        + [NewEntry("note", f"apple {i}") for i in range(6)],
    )
    hits = await store.search(KEY, "Apple pie", limit=20)
    # both words; then the rarer word; then the other, newest first
    assert [h.seq for h in hits] == [1, 2, 8, 7, 6, 5, 4, 3]
    assert hits[0].score > hits[1].score > hits[2].score == hits[-1].score > 0


async def test_search_ties_rank_blocks_first_then_the_newest(store: ContextStore) -> None:
    await store.append(KEY, [NewEntry("note", "zebra one"), NewEntry("note", "zebra two")])
    await store.put_block(KEY, "notes", "a zebra")
    hits = await store.search(KEY, "zebra")
    assert [(h.source, h.ref if h.source == "block" else h.seq) for h in hits] == [
        ("block", "notes"),
        ("journal", 2),
        ("journal", 1),
    ]


async def test_search_looks_at_a_bounded_window_of_each_word(store: ContextStore) -> None:
    """Per word, only its newest SEARCH_WINDOW matches; entries with every word anywhere when one word is
    rarer than that; with every word more common, only what the words' windows hold."""
    store.SEARCH_WINDOW = 3  # type: ignore[misc]  # this store only
    await store.append(
        KEY,
        [NewEntry("note", "needle in a haystack")]  # 1
        + [NewEntry("note", f"haystack {i}") for i in range(5)]  # 2-6
        + [NewEntry("note", "red blue")]  # 7
        + [NewEntry("note", f"red {i}") for i in range(4)]  # 8-11
        + [NewEntry("note", f"blue {i}") for i in range(4)],  # 12-15
    )
    assert [h.seq for h in await store.search(KEY, "haystack", limit=10)] == [6, 5, 4]
    assert [h.seq for h in await store.search(KEY, "needle haystack", limit=10)] == [1, 6, 5, 4]
    # "red" holds fewer of the newest entries than "blue": it weighs more. Entry 7 is in neither window.
    assert [h.seq for h in await store.search(KEY, "red blue", limit=10)] == [11, 10, 9, 15, 14, 13]
    assert await store.search(KEY, " ".join(f"w{i}" for i in range(16)) + " needle") == []  # 16 words at most


async def test_large_payloads_go_to_blobs_transparently(store: ContextStore, blobs: DictBlobs) -> None:
    big = "word " * 20_000
    await store.put_block(KEY, "big", big, limit=200_000)
    out = await store.append(KEY, [NewEntry("note", big, data={"k": "v"}, id="big-1")])
    assert any("/payloads/" in n for n in blobs.data)
    assert (await store.get_block(KEY, "big")).value == big
    page = await store.page(KEY)
    assert page.entries[0].text == big and page.entries[0].data == {"k": "v"}
    assert out.entries[0].text == big


async def test_compaction_archives_and_remembers_ids(store: ContextStore, blobs: DictBlobs) -> None:
    await store.append(KEY, [NewEntry("note", f"entry {i}", id=f"e{i}") for i in range(10)])
    info = await store.compact(KEY, 6, NewEntry("summary", "entries 0-5 said hello"))
    assert (info.first_seq, info.last_seq, info.entries) == (1, 6, 6)
    page = await store.page(KEY)
    assert [e.seq for e in page.entries] == [6, 7, 8, 9, 10]
    assert page.entries[0].kind == "summary" and page.entries[0].id == info.summary_id
    archived = await store.read_archive(KEY, info.name)
    assert [e.id for e in archived] == [f"e{i}" for i in range(6)]
    assert [a.name for a in await store.list_archives(KEY)] == [info.name]
    stats = await store.stats(KEY)
    assert stats.entries == 5
    again = await store.append(KEY, [NewEntry("note", "entry 0", id="e0")])
    assert again.added == 0 and (await store.stats(KEY)).entries == 5
    (folded,) = again.entries  # the contract's reconstruction without text, the same from every adapter
    assert (folded.id, folded.seq, folded.kind, folded.text, folded.data) == ("e0", 1, "note", "", {"folded": True})
    with pytest.raises(ValidationFailed, match="nothing to compact"):
        await store.compact(OTHER, 5, NewEntry("summary", "x"))
    with pytest.raises(NotFound):
        await store.read_archive(OTHER, info.name)


async def test_search_skips_folded_entries(store: ContextStore) -> None:
    await store.append(KEY, [NewEntry("note", "zebra crossing"), NewEntry("note", "lion")])
    await store.compact(KEY, 1, NewEntry("summary", "animals"))
    assert [h for h in await store.search(KEY, "zebra") if h.source == "journal"] == []


async def test_purge_removes_everything(store: ContextStore, blobs: DictBlobs) -> None:
    await store.put_block(KEY, "persona", "x")
    await store.append(KEY, [NewEntry("note", f"n{i}") for i in range(4)] + [NewEntry("note", "y" * 70_000)])
    await store.compact(KEY, 2, NewEntry("summary", "s"))
    await store.append(OTHER, [NewEntry("note", "keep me")])
    counts = await store.purge(KEY)
    assert counts == {"blocks": 1, "entries": 6, "archives": 1, "blobs": 2}  # 4 live + 2 folded
    assert await store.list_blocks(KEY) == [] and (await store.page(KEY)).entries == ()
    assert await store.list_archives(KEY) == [] and await store.search(KEY, "n1") == []
    assert not [n for n in blobs.data if n.startswith(f"context/{KEY}/")]
    assert (await store.page(OTHER)).entries[0].text == "keep me"
    assert await store.purge(KEY) == {"blocks": 0, "entries": 0, "archives": 0, "blobs": 0}


async def test_stats_follow_blocks_and_journal(store: ContextStore) -> None:
    """The totals an append returns (and a budget check reads) track every write, not just appends."""
    assert await store.stats(KEY) == ContextStats(0, 0, 0, 0, None, None)
    b = await store.put_block(KEY, "persona", "calm")
    await store.put_block(KEY, "plan", "a" * 10)
    await store.put_block(KEY, "persona", "much calmer", etag=b.etag)
    await store.put_block(OTHER, "persona", "other agent")
    out = await store.append(KEY, [NewEntry("note", "one"), NewEntry("note", "three")])
    assert out.stats == ContextStats(2, 21, 2, 8, 1, 2)
    await store.delete_block(KEY, "plan")
    await store.compact(KEY, 1, NewEntry("summary", "s"))
    assert await store.stats(KEY) == ContextStats(1, 11, 2, 6, 1, 2)
    await store.purge(KEY)
    assert await store.stats(KEY) == ContextStats(0, 0, 0, 0, None, None)
    assert (await store.stats(OTHER)).block_bytes == 11


async def test_concurrent_writers_one_wins(store: ContextStore) -> None:
    b = await store.put_block(KEY, "plan", "v1")
    results = await asyncio.gather(
        store.put_block(KEY, "plan", "left", etag=b.etag),
        store.put_block(KEY, "plan", "right", etag=b.etag),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["MemoryBlock", "VersionConflict"]


async def test_bad_entries_write_nothing(store: ContextStore) -> None:
    with pytest.raises(ValidationFailed, match="kind"):
        await store.append(KEY, [NewEntry("note", "ok"), NewEntry("Bad Kind", "x")])
    with pytest.raises(ValidationFailed, match="text or data"):
        await store.append(KEY, [NewEntry("note", "")])
    assert (await store.stats(KEY)).entries == 0
