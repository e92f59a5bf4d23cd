"""SQLite ContextStore on the process's shared `SqliteDatabase` (one writer, group commit).

Why this shape: every method is one `db.write`/`db.read` operation (plus BlobStore calls before it), so a
method is one transaction and never interleaves with another. Search uses an FTS5 index (porter stemming)
holding both blocks and live entries; each row carries an *owner* token derived from the agent key, so a query
intersects the agent's postings instead of scanning other agents' rows. A search asks FTS5 only for the newest
`SEARCH_WINDOW` matches of each word (and of all the words together, when one is rare), which FTS5 reads in
rowid order and stops; it ranks them in Python (`context_common.rank`), not with bm25() (see `_NEWEST`).
Appended entries reach the index in bulk, through a queue table that searches empty first (`_index_queued`).
A `ctx_head` row per agent keeps the next sequence number and the live totals, and a `ctx_block_total` row
its blocks' count and bytes, so the stats every append returns cost a few index seeks, never a count of rows
(appends stay flat as the journal and the blocks grow).

Limitations: needs SQLite built with FTS5 (CPython's bundled SQLite has it); payloads over
`CONTEXT_INLINE_LIMIT` are indexed on their first 64 KiB; the ids of folded entries are kept (small rows in
`ctx_folded`) so a retried append of an archived entry still adds nothing.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from aos.adapters.embedded import context_common as cc
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.errors import NotFound, ValidationFailed, VersionConflict
from aos.ports import (
    Appended,
    ArchiveInfo,
    BlobStore,
    ContextStats,
    ContextStore,
    JournalEntry,
    JournalPage,
    MemoryBlock,
    NewEntry,
    SearchHit,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS ctx_block (
  key TEXT NOT NULL, label TEXT NOT NULL, kind TEXT NOT NULL, value TEXT, blob TEXT, size INTEGER NOT NULL,
  lim INTEGER NOT NULL, version INTEGER NOT NULL, etag TEXT NOT NULL, updated_us INTEGER NOT NULL,
  PRIMARY KEY (key, label));
CREATE TABLE IF NOT EXISTS ctx_entry (
  key TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, ts_us INTEGER NOT NULL, kind TEXT NOT NULL,
  text TEXT NOT NULL, data TEXT, blob TEXT, size INTEGER NOT NULL, PRIMARY KEY (key, seq));
CREATE UNIQUE INDEX IF NOT EXISTS ctx_entry_id ON ctx_entry (key, id);
CREATE INDEX IF NOT EXISTS ctx_entry_kind ON ctx_entry (key, kind, seq);
CREATE TABLE IF NOT EXISTS ctx_folded (
  key TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, ts_us INTEGER NOT NULL,
  PRIMARY KEY (key, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ctx_head (
  key TEXT PRIMARY KEY, next_seq INTEGER NOT NULL, entries INTEGER NOT NULL, bytes INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ctx_block_total (
  key TEXT PRIMARY KEY, blocks INTEGER NOT NULL, bytes INTEGER NOT NULL) WITHOUT ROWID;
-- A database written before ctx_block_total existed: count its blocks once (the table is empty only then).
-- The one-row CROSS JOIN comes first so that, every other time, this reads no block at all (a WHERE would scan).
INSERT INTO ctx_block_total SELECT b.key, count(*), sum(b.size)
  FROM (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM ctx_block_total)) CROSS JOIN ctx_block AS b GROUP BY b.key;
CREATE TABLE IF NOT EXISTS ctx_archive (
  key TEXT NOT NULL, name TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  entries INTEGER NOT NULL, bytes INTEGER NOT NULL, summary_id TEXT NOT NULL, created_us INTEGER NOT NULL,
  PRIMARY KEY (key, name)) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS ctx_fts USING fts5(owner, body, tokenize='porter unicode61');
-- No automatic merging: `_index_queued` merges a bounded amount after each batch (see MERGE_PAGES).
INSERT INTO ctx_fts (ctx_fts, rank) VALUES ('automerge', 0);
CREATE TABLE IF NOT EXISTS ctx_fts_queue (rowid INTEGER PRIMARY KEY, owner TEXT NOT NULL, body TEXT NOT NULL);
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_QUEUE_INSERT = "INSERT INTO ctx_fts_queue (rowid, owner, body) VALUES (?,?,?)"
#: Appended entries wait in `ctx_fts_queue` until this many are queued (or a search, compaction or purge).
#: Why 64, not more: moving them is one operation of the writer, on the event loop in inline mode, and FTS5
#: adds merge work in proportion: 256 at a time stalled the loop for 3.5 ms typically and up to 20 ms at
#: 1,000 events/s (bench/wakes.py); 64 at a time, 0.9 ms and up to 9-15 ms, at the same CPU per event.
INDEX_BATCH = 64
#: After each batch moves into the index, FTS5 merges its segments until about this many pages are written.
#: Why not FTS5's own automatic merging: it merges in bursts, and one burst stopped the event loop for up to
#: 20-23 ms at 600 events/s (bench/wakes.py); bounded merges took at most 6.7 ms, at ~3 µs more per entry, with
#: the index as large as before (the merges keep up). Should they fall behind, FTS5's crisis merge still runs.
MERGE_PAGES = 50
_ENTRY_COLS = "id, seq, ts_us, kind, text, data, blob, size"


class SqliteContextStore(ContextStore):
    """Register before `db.start()`: the constructor adds the schema to the shared database."""

    def __init__(self, db: SqliteDatabase, blobs: BlobStore) -> None:
        db.add_schema(SCHEMA)
        self._db = db
        self._blobs = blobs
        self._queued = 0  # entries queued for the index since the last `_index_queued` (a hint, not a count)

    def _index_queued(self, c: sqlite3.Connection) -> None:
        """Move the queued entries into the FTS5 index (one insert for all of them), before anything reads or
        deletes index rows. Why a queue: each FTS5 insert flushes its terms as a new index segment at COMMIT,
        and FTS5 merges segments as they pile up; entry by entry that was about a quarter of every commit's
        pages. Queued in a plain table (durable with the entry, in the same transaction), hundreds of entries
        make one segment, and nothing is lost in a crash."""
        self._db.flush_deferred(c)
        if c.execute("SELECT 1 FROM ctx_fts_queue LIMIT 1").fetchone() is not None:
            c.execute("INSERT INTO ctx_fts (rowid, owner, body) SELECT rowid, owner, body FROM ctx_fts_queue")
            c.execute("DELETE FROM ctx_fts_queue")
            c.execute("INSERT INTO ctx_fts (ctx_fts, rank) VALUES ('merge', ?)", (MERGE_PAGES,))
        self._queued = 0

    # ------------------------------------------------------------ blocks

    async def list_blocks(self, key: str) -> list[MemoryBlock]:
        rows = await self._db.read(
            lambda c: c.execute(
                "SELECT label, kind, value, blob, size, lim, version, etag, updated_us FROM ctx_block "
                "WHERE key = ? ORDER BY label",
                (key,),
            ).fetchall()
        )
        return [await self._block(r) for r in rows]

    async def get_block(self, key: str, label: str) -> MemoryBlock:
        row = await self._db.read(
            lambda c: c.execute(
                "SELECT label, kind, value, blob, size, lim, version, etag, updated_us FROM ctx_block "
                "WHERE key = ? AND label = ?",
                (key, label),
            ).fetchone()
        )
        if row is None:
            raise NotFound(f"no block '{label}' in this context; list_blocks shows the labels", label=label)
        return await self._block(row)

    async def _block(self, row: tuple[Any, ...]) -> MemoryBlock:
        label, kind, value, blob, size, lim, version, etag, updated_us = row
        if blob is not None:
            value = (await self._blobs.get(blob)).decode()
        return MemoryBlock(
            label, kind, cc.decode_block_value(value, kind), size, lim, version, etag, _dt(updated_us)
        )

    async def put_block(
        self,
        key: str,
        label: str,
        value: Any,
        *,
        kind: str = "text",
        limit: int | None = None,
        etag: str | None = None,
        force: bool = False,
    ) -> MemoryBlock:
        cc.check_label(label)
        stored = cc.encode_block_value(value, kind)
        size = len(stored.encode())
        if limit is not None:
            cc.check_limit(size, limit, label)
        blob = await cc.offload(self._blobs, key, stored)
        new_etag, now = cc.new_etag(), cc.utcnow()

        def op(c: sqlite3.Connection) -> tuple[int, int]:
            cur = c.execute(
                "SELECT rowid, etag, version, lim, size FROM ctx_block WHERE key = ? AND label = ?",
                (key, label),
            ).fetchone()
            _check_etag(label, cur[1] if cur else None, etag, force)
            lim = limit or (cur[3] if cur else self.DEFAULT_BLOCK_LIMIT)
            cc.check_limit(size, lim, label)
            inline = None if blob else stored
            if cur is None:
                rowid = cast(int, c.execute(  # an INSERT always sets lastrowid
                    "INSERT INTO ctx_block VALUES (?,?,?,?,?,?,?,1,?,?)",
                    (key, label, kind, inline, blob, size, lim, new_etag, _us(now)),
                ).lastrowid)
                version = 1
                _add_blocks(c, key, 1, size)
            else:
                rowid, version = cur[0], cur[2] + 1
                c.execute(
                    "UPDATE ctx_block SET kind=?, value=?, blob=?, size=?, lim=?, version=?, etag=?, updated_us=? "
                    "WHERE rowid = ?",
                    (kind, inline, blob, size, lim, version, new_etag, _us(now), rowid),
                )
                c.execute("DELETE FROM ctx_fts WHERE rowid = ?", (-rowid,))
                _add_blocks(c, key, 0, size - cur[4])
            c.execute(
                "INSERT INTO ctx_fts (rowid, owner, body) VALUES (?,?,?)",
                (-rowid, _owner(key, "b"), f"{label}\n{cc.index_text(stored, None)}"),
            )
            return version, lim

        version, lim = await self._db.write(op)
        return MemoryBlock(label, kind, value, size, lim, version, new_etag, now)

    async def delete_block(self, key: str, label: str, *, etag: str | None = None) -> bool:
        def op(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "SELECT rowid, etag, size FROM ctx_block WHERE key = ? AND label = ?", (key, label)
            ).fetchone()
            if cur is None:
                return False
            if etag is not None and etag != cur[1]:
                raise VersionConflict(
                    f"block '{label}' changed since etag {etag}: re-read it and retry", label=label
                )
            c.execute("DELETE FROM ctx_block WHERE rowid = ?", (cur[0],))
            c.execute("DELETE FROM ctx_fts WHERE rowid = ?", (-cur[0],))
            _add_blocks(c, key, -1, -cur[2])
            return True

        return await self._db.write(op)

    # ------------------------------------------------------------ journal

    async def append(self, key: str, entries: Sequence[NewEntry]) -> Appended:
        checked = [(e, *cc.check_entry(e)) for e in entries]
        blobs = [
            await cc.offload_entry(self._blobs, key, e.text, dj, size) for e, _, dj, size in checked
        ]
        rows = [
            (e.id or cc.new_etag(), e.id is not None, e.ts or cc.utcnow(), kind, dj, size, blob, e.text, e.data)
            for (e, kind, dj, size), blob in zip(checked, blobs)
        ]
        owner = _owner(key, "j")

        def op(c: sqlite3.Connection) -> tuple[list[tuple[Any, ...] | JournalEntry], int, ContextStats]:
            if self._queued >= INDEX_BATCH:
                self._index_queued(c)
            head = c.execute("SELECT next_seq, entries, bytes FROM ctx_head WHERE key = ?", (key,)).fetchone()
            next_seq, entries, total_bytes = head if head else (1, 0, 0)
            out: list[tuple[Any, ...] | JournalEntry] = []
            added = added_bytes = 0
            for eid, given, ts, kind, dj, size, blob, text, data in rows:
                known = _known(c, key, eid) if given else None  # an id we just made up is new
                if known is not None:
                    out.append(known)
                    continue
                inline_text = text if blob is None else text[:1024]
                ts_us = _us(ts)
                rowid = c.execute(
                    "INSERT INTO ctx_entry VALUES (?,?,?,?,?,?,?,?,?)",
                    (key, next_seq, eid, ts_us, kind, inline_text, None if blob else dj, blob, size),
                ).lastrowid
                # queued for the index (see `_index_queued`), with the other appends of the batch (see `defer`)
                self._db.defer(_QUEUE_INSERT, (rowid, owner, cc.index_text(text, dj)))
                self._queued += 1
                # a new entry is what was given (its data is not read back from its JSON)
                out.append(JournalEntry(eid, next_seq, _dt(ts_us), kind, text, data, size))
                next_seq += 1
                added += 1
                added_bytes += size
            # the totals are worked out here, not read back with RETURNING, which costs ~8 µs a statement
            c.execute(
                "INSERT INTO ctx_head VALUES (?,?,?,?) ON CONFLICT (key) DO UPDATE SET next_seq = excluded.next_seq, "
                "entries = entries + excluded.entries, bytes = bytes + excluded.bytes",
                (key, next_seq, added, added_bytes),
            )
            return out, added, _stats(c, key, (entries + added, total_bytes + added_bytes))

        out, added, stats = await self._db.write(op)
        return Appended(tuple([r if isinstance(r, JournalEntry) else await self._entry(r) for r in out]), added,
                        stats)

    async def _entry(self, row: tuple[Any, ...]) -> JournalEntry:
        eid, seq, ts_us, kind, text, dj, blob, size = row
        if blob is not None:
            payload = cc.Payload.loads(await self._blobs.get(blob))
            text, dj = payload.text, payload.data_json
        data = None if dj is None else cc.decode_block_value(dj, "json")
        return JournalEntry(eid, seq, _dt(ts_us), kind, text, data, size)

    async def page(
        self,
        key: str,
        *,
        cursor: str | None = None,
        limit: int = 50,
        kinds: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        newest_first: bool = False,
    ) -> JournalPage:
        if not 1 <= limit <= 1000:
            raise ValidationFailed(f"limit {limit} is out of range 1..1000")
        where: list[str] = ["key = ?"]
        args: list[object] = [key]
        if cursor:
            where.append("seq < ?" if newest_first else "seq > ?")
            args.append(cc.decode_cursor(cursor))
        if kinds:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        if since:
            where.append("ts_us >= ?")
            args.append(_us(since))
        if until:
            where.append("ts_us < ?")
            args.append(_us(until))
        sql = (
            f"SELECT {_ENTRY_COLS} FROM ctx_entry WHERE {' AND '.join(where)} "
            f"ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ?"
        )
        rows = await self._db.read(lambda c: c.execute(sql, (*args, limit + 1)).fetchall())
        more = len(rows) > limit
        rows = rows[:limit]
        entries = tuple([await self._entry(r) for r in rows])
        return JournalPage(entries, cc.encode_cursor(rows[-1][1]) if more else None)

    async def stats(self, key: str) -> ContextStats:
        return await self._db.read(lambda c: _stats(c, key))

    # ------------------------------------------------------------ search

    async def search(
        self, key: str, query: str, *, limit: int = 10, sources: Sequence[str] = ("block", "journal")
    ) -> list[SearchHit]:
        terms = cc.search_terms(query)
        wanted = [s for s in ("block", "journal") if s in sources]
        if not terms or not wanted:
            return []
        window = self.SEARCH_WINDOW

        def op(c: sqlite3.Connection) -> list[SearchHit]:
            self._index_queued(c)
            found = [_matches(c, key, source, terms, window) for source in wanted]
            hits = [_hit(c, source, ref, score, terms) for source, ref, score in cc.rank(terms, found, limit)]
            return [h for h in hits if h is not None]

        return await self._db.read(op)

    # ------------------------------------------------------------ compaction

    async def compact(self, key: str, through_seq: int, summary: NewEntry) -> ArchiveInfo:
        kind, dj, size = cc.check_entry(summary)
        rows = await self._db.read(
            lambda c: c.execute(
                f"SELECT {_ENTRY_COLS} FROM ctx_entry WHERE key = ? AND seq <= ? ORDER BY seq",
                (key, through_seq),
            ).fetchall()
        )
        if not rows:
            raise ValidationFailed(f"nothing to compact at or before seq {through_seq}")
        folded = [await self._entry(r) for r in rows]
        first, last = folded[0].seq, folded[-1].seq
        name = cc.archive_name(key, first, last)
        ref = await self._blobs.put(name, cc.archive_bytes(folded), "application/json")
        sid, now = cc.summary_id(first, last), cc.utcnow()
        ts_us = _us(summary.ts or now)

        def op(c: sqlite3.Connection) -> None:
            live = c.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM ctx_entry WHERE key = ? AND seq <= ?",
                (key, through_seq),
            ).fetchone()
            if live[0] != len(folded):
                raise VersionConflict(
                    f"the journal changed while compacting through seq {through_seq}; retry"
                )
            self._index_queued(c)  # every appended entry is in the index: their index rows are folded too
            c.execute(
                "INSERT INTO ctx_folded SELECT key, id, seq, kind, ts_us FROM ctx_entry WHERE key = ? AND seq <= ?",
                (key, through_seq),
            )
            c.execute(
                "DELETE FROM ctx_fts WHERE rowid IN (SELECT rowid FROM ctx_entry WHERE key = ? AND seq <= ?)",
                (key, through_seq),
            )
            c.execute("DELETE FROM ctx_entry WHERE key = ? AND seq <= ?", (key, through_seq))
            rowid = c.execute(
                "INSERT INTO ctx_entry VALUES (?,?,?,?,?,?,?,NULL,?)",
                (key, last, sid, ts_us, kind, summary.text, dj, size),
            ).lastrowid
            c.execute(
                "INSERT INTO ctx_fts (rowid, owner, body) VALUES (?,?,?)",
                (rowid, _owner(key, "j"), cc.index_text(summary.text, dj)),
            )
            c.execute(
                "UPDATE ctx_head SET entries = entries - ? + 1, bytes = bytes - ? + ? WHERE key = ?",
                (live[0], live[1], size, key),
            )
            c.execute(
                "INSERT OR REPLACE INTO ctx_archive VALUES (?,?,?,?,?,?,?,?)",
                (key, name, first, last, len(folded), ref.size, sid, _us(now)),
            )

        await self._db.write(op)
        return ArchiveInfo(name, first, last, len(folded), ref.size, sid, now)

    async def list_archives(self, key: str) -> list[ArchiveInfo]:
        rows = await self._db.read(
            lambda c: c.execute(
                "SELECT name, first_seq, last_seq, entries, bytes, summary_id, created_us FROM ctx_archive "
                "WHERE key = ? ORDER BY name",
                (key,),
            ).fetchall()
        )
        return [ArchiveInfo(r[0], r[1], r[2], r[3], r[4], r[5], _dt(r[6])) for r in rows]

    async def read_archive(self, key: str, name: str) -> list[JournalEntry]:
        exists = await self._db.read(
            lambda c: c.execute(
                "SELECT 1 FROM ctx_archive WHERE key = ? AND name = ?", (key, name)
            ).fetchone()
        )
        if exists is None:
            raise NotFound(f"no archive '{name}' in this context; list_archives shows the names")
        return cc.archive_entries(await self._blobs.get(name))

    async def purge(self, key: str) -> dict[str, int]:
        def op(c: sqlite3.Connection) -> dict[str, int]:
            self._index_queued(c)  # every appended entry is in the index: their index rows go too
            c.execute(
                "DELETE FROM ctx_fts WHERE rowid IN (SELECT rowid FROM ctx_entry WHERE key = ?)", (key,)
            )
            c.execute(
                "DELETE FROM ctx_fts WHERE rowid IN (SELECT -rowid FROM ctx_block WHERE key = ?)", (key,)
            )
            counts = {
                "blocks": c.execute("DELETE FROM ctx_block WHERE key = ?", (key,)).rowcount,
                "entries": c.execute("DELETE FROM ctx_entry WHERE key = ?", (key,)).rowcount
                + c.execute("DELETE FROM ctx_folded WHERE key = ?", (key,)).rowcount,
                "archives": c.execute("DELETE FROM ctx_archive WHERE key = ?", (key,)).rowcount,
            }
            c.execute("DELETE FROM ctx_head WHERE key = ?", (key,))
            c.execute("DELETE FROM ctx_block_total WHERE key = ?", (key,))
            return counts

        counts = await self._db.write(op)
        blobs = 0
        for ref in await self._blobs.list(f"context/{key}/"):
            blobs += await self._blobs.delete(ref.name)
        return {**counts, "blobs": blobs}


def _check_etag(label: str, current: str | None, etag: str | None, force: bool) -> None:
    if force:
        return
    if etag is None and current is not None:
        raise VersionConflict(
            f"block '{label}' already exists: pass its etag ({current}) to replace it", label=label
        )
    if etag is not None and current != etag:
        raise VersionConflict(f"block '{label}' changed since etag {etag}: re-read it and retry", label=label)


def _known(c: sqlite3.Connection, key: str, eid: str) -> tuple[Any, ...] | JournalEntry | None:
    """The entry row stored under `eid`, or what `append` returns for one compaction folded away
    (`folded_entry`); one lookup for both."""
    row = c.execute(
        f"SELECT {_ENTRY_COLS}, 1 FROM ctx_entry WHERE key = ?1 AND id = ?2 UNION ALL "
        "SELECT id, seq, ts_us, kind, NULL, NULL, NULL, 0, 0 FROM ctx_folded WHERE key = ?1 AND id = ?2",
        (key, eid),
    ).fetchone()
    if row is None:
        return None
    if not row[-1]:
        return cc.folded_entry(row[0], row[1], _dt(row[2]), row[3])
    return tuple(row[:-1])


def _stats(c: sqlite3.Connection, key: str, head: tuple[int, int] | None = None) -> ContextStats:
    """`head`: the live totals when the caller has them already (an append gets them from its upsert)."""
    if head is None:
        head = c.execute("SELECT entries, bytes FROM ctx_head WHERE key = ?", (key,)).fetchone() or (0, 0)
    blocks = c.execute("SELECT blocks, bytes FROM ctx_block_total WHERE key = ?", (key,)).fetchone() or (0, 0)
    # Two subqueries, not `SELECT min(seq), max(seq)`: SQLite answers a lone min() or max() from the index in
    # one seek, but both in one SELECT scan every entry of the agent (2.3 ms at 20,000 entries, per append).
    ends = c.execute(
        "SELECT (SELECT min(seq) FROM ctx_entry WHERE key = ?1), (SELECT max(seq) FROM ctx_entry WHERE key = ?1)",
        (key,),
    ).fetchone()
    return ContextStats(blocks[0], blocks[1], head[0], head[1], ends[0], ends[1])


def _add_blocks(c: sqlite3.Connection, key: str, blocks: int, size: int) -> None:
    c.execute(
        "INSERT INTO ctx_block_total VALUES (?,?,?) ON CONFLICT (key) DO UPDATE SET "
        "blocks = blocks + excluded.blocks, bytes = bytes + excluded.bytes",
        (key, blocks, size),
    )


# The newest `window` matches of an FTS query: entries by rowid, newest first; blocks are indexed under
# -rowid, so their newest (largest block rowid) come first in ascending order. FTS5 walks postings in rowid
# order (intersected with the owner token's) and stops at the limit. No ranking function: FTS5's bm25() first
# counts every row matching each phrase of the query, the owner token's included: all the agent's postings,
# on every search (~1 ms at 20,000 entries, 9 ms at 200,000).
_NEWEST = {
    "journal": "SELECT rowid FROM ctx_fts WHERE ctx_fts MATCH ? ORDER BY rowid DESC LIMIT ?",
    "block": "SELECT -rowid FROM ctx_fts WHERE ctx_fts MATCH ? ORDER BY rowid ASC LIMIT ?",
}


def _matches(c: sqlite3.Connection, key: str, source: str, terms: list[str], window: int) -> cc.Matches:
    """One source's bounded candidates: a window per word, and the newest matches of all the words."""
    owner, sql = _owner(key, source[0]), _NEWEST[source]

    def newest(body: str) -> list[int]:
        return [r for (r,) in c.execute(sql, (f"owner:{owner} AND body:({body})", window))]

    each = {t: newest(_quote(t)) for t in terms}
    # Only with a word of fewer than `window` matches: FTS5's intersection leapfrogs through that word's
    # postings. With every word common it would not be bounded (two common words that never meet: both whole
    # posting lists, 0.5 ms at 20,000 entries, 5 ms at 200,000).
    every = newest(" AND ".join(_quote(t) for t in terms)) if cc.needs_every(each, window) else []
    if source == "block":
        total = (c.execute("SELECT blocks FROM ctx_block_total WHERE key = ?", (key,)).fetchone() or (0,))[0]
        df = {t: float(len(refs)) if len(refs) < window else float(total) for t, refs in each.items()}
        return cc.Matches(source, total, each, every, df)
    head = c.execute("SELECT next_seq, entries FROM ctx_head WHERE key = ?", (key,)).fetchone() or (1, 0)
    df = {}
    for t, refs in each.items():
        if len(refs) < window:
            df[t] = float(len(refs))
        else:  # the window's oldest entry tells how far back its matches reach
            oldest = c.execute("SELECT seq FROM ctx_entry WHERE rowid = ?", (refs[-1],)).fetchone()
            span = head[0] - oldest[0] if oldest else head[1]
            df[t] = cc.estimate_df(window, head[1], span)
    return cc.Matches(source, head[1], each, every, df)


def _hit(c: sqlite3.Connection, source: str, ref: int, score: float, terms: list[str]) -> SearchHit | None:
    """`ref`: an entry's rowid, or a block's (indexed under -rowid). The snippet comes from the indexed text
    (an FTS5 rowid lookup), cut as every adapter cuts it: FTS5's snippet() costs an FTS query per hit."""
    if source == "block":
        row = c.execute(
            "SELECT b.label, f.body FROM ctx_block AS b JOIN ctx_fts AS f ON f.rowid = -b.rowid "
            "WHERE b.rowid = ?",
            (ref,),
        ).fetchone()
        if row is None:
            return None
        return SearchHit("block", row[0], score, cc.snippet(row[1].partition("\n")[2], terms))
    row = c.execute(
        "SELECT e.id, e.seq, f.body FROM ctx_entry AS e JOIN ctx_fts AS f ON f.rowid = e.rowid "
        "WHERE e.rowid = ?",
        (ref,),
    ).fetchone()
    return SearchHit("journal", row[0], score, cc.snippet(row[2], terms), row[1]) if row else None


@functools.lru_cache(maxsize=8192)  # every append names its owner: the hash cost 8 µs of each (bench/wakes.py)
def _owner(key: str, source: str) -> str:
    return "k" + hashlib.sha1(key.encode()).hexdigest()[:20] + source


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _us(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - _EPOCH) // timedelta(microseconds=1)


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)
