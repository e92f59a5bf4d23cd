"""In-memory ContextStore: the reference implementation of the contract, for tests and throwaway runs.

Limitations: nothing survives the process; search matches lowercase words (no stemming), and finding a word's
newest matches sorts all of its postings (fine for tests); one event loop only (mutations happen between
awaits, never across).
Large payloads and archives still go to the given BlobStore, exactly as the durable adapters do.
"""

from __future__ import annotations

import bisect
import heapq
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aos.adapters.embedded import context_common as cc
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


@dataclass
class _Row:
    id: str
    seq: int
    ts: datetime
    kind: str
    text: str
    data_json: str | None
    blob: str | None
    size: int
    terms: Counter[str]


@dataclass
class _Agent:
    blocks: dict[str, tuple[MemoryBlock, str | None]] = field(default_factory=dict)
    rows: dict[int, _Row] = field(default_factory=dict)
    seqs: list[int] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)
    folded: dict[str, tuple[int, str, datetime]] = field(default_factory=dict)
    next_seq: int = 1
    archives: dict[str, ArchiveInfo] = field(default_factory=dict)
    postings: dict[str, set[int]] = field(default_factory=dict)
    entry_bytes: int = 0


class MemoryContextStore(ContextStore):
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self._agents: dict[str, _Agent] = {}

    def _agent(self, key: str) -> _Agent:
        return self._agents.setdefault(key, _Agent())

    # ------------------------------------------------------------ blocks

    async def list_blocks(self, key: str) -> list[MemoryBlock]:
        agent = self._agents.get(key)
        if agent is None:
            return []
        return [await self._full_block(b, blob) for _, (b, blob) in sorted(agent.blocks.items())]

    async def get_block(self, key: str, label: str) -> MemoryBlock:
        agent = self._agents.get(key)
        found = agent.blocks.get(label) if agent else None
        if found is None:
            raise NotFound(f"no block '{label}' in this context; list_blocks shows the labels", label=label)
        return await self._full_block(*found)

    async def _full_block(self, block: MemoryBlock, blob: str | None) -> MemoryBlock:
        if blob is None:
            return block
        stored = (await self._blobs.get(blob)).decode()
        return _replace_value(block, cc.decode_block_value(stored, block.kind))

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
        current = self._agents.get(key, _Agent()).blocks.get(label)
        lim = limit or (current[0].limit if current else self.DEFAULT_BLOCK_LIMIT)
        cc.check_limit(size, lim, label)
        _check_etag(label, current[0] if current else None, etag, force)
        blob = await cc.offload(self._blobs, key, stored)
        current = self._agent(key).blocks.get(label)
        _check_etag(label, current[0] if current else None, etag, force)
        version = current[0].version + 1 if current else 1
        block = MemoryBlock(label, kind, value, size, lim, version, cc.new_etag(), cc.utcnow())
        self._agent(key).blocks[label] = (block, blob)
        return block

    async def delete_block(self, key: str, label: str, *, etag: str | None = None) -> bool:
        agent = self._agents.get(key)
        current = agent.blocks.get(label) if agent else None
        if current is None or agent is None:
            return False
        if etag is not None and etag != current[0].etag:
            raise VersionConflict(
                f"block '{label}' changed since etag {etag}: re-read it and retry", label=label
            )
        del agent.blocks[label]
        return True

    # ------------------------------------------------------------ journal

    async def append(self, key: str, entries: Sequence[NewEntry]) -> Appended:
        checked = [(e, *cc.check_entry(e)) for e in entries]
        blobs = [
            await cc.offload_entry(self._blobs, key, e.text, dj, size) for e, _, dj, size in checked
        ]
        agent = self._agent(key)
        out: list[JournalEntry] = []
        added = 0
        for (entry, kind, data_json, size), blob in zip(checked, blobs):
            known = _known(agent, entry.id)
            if known is not None:
                out.append(known)
                continue
            row = _Row(
                entry.id or cc.new_etag(),
                agent.next_seq,
                entry.ts or cc.utcnow(),
                kind,
                entry.text,
                data_json,
                blob,
                size,
                Counter(cc.words(cc.index_text(entry.text, data_json))),
            )
            agent.next_seq += 1
            _insert(agent, row)
            out.append(_entry(row))
            added += 1
        return Appended(tuple(out), added, _stats(agent))

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
        agent = self._agents.get(key) or _Agent()
        after = cc.decode_cursor(cursor) if cursor else None
        seqs = agent.seqs
        if newest_first:
            stop = bisect.bisect_left(seqs, after) if after is not None else len(seqs)
            order: Sequence[int] = seqs[:stop][::-1]
        else:
            order = seqs[bisect.bisect_right(seqs, after) :] if after is not None else seqs
        picked: list[_Row] = []
        for seq in order:
            row = agent.rows[seq]
            if kinds and row.kind not in kinds or since and row.ts < since or until and row.ts >= until:
                continue
            picked.append(row)
            if len(picked) > limit:
                break
        more = len(picked) > limit
        picked = picked[:limit]
        full = [await self._full_entry(r) for r in picked]
        return JournalPage(tuple(full), cc.encode_cursor(picked[-1].seq) if more else None)

    async def _full_entry(self, row: _Row) -> JournalEntry:
        if row.blob is None:
            return _entry(row)
        payload = cc.Payload.loads(await self._blobs.get(row.blob))
        data = None if payload.data_json is None else cc.decode_block_value(payload.data_json, "json")
        return JournalEntry(row.id, row.seq, row.ts, row.kind, payload.text, data, row.size)

    async def stats(self, key: str) -> ContextStats:
        return _stats(self._agents.get(key) or _Agent())

    # ------------------------------------------------------------ search

    async def search(
        self, key: str, query: str, *, limit: int = 10, sources: Sequence[str] = ("block", "journal")
    ) -> list[SearchHit]:
        terms = cc.search_terms(query)
        agent = self._agents.get(key)
        if not terms or agent is None:
            return []
        window = self.SEARCH_WINDOW
        found = []
        blocks = [(label, cc.encode_block_value(b.value, b.kind)) for label, (b, _) in agent.blocks.items()]
        if "block" in sources:  # ref: the block's place in creation order (dicts keep it)
            found.append(cc.block_matches(blocks, terms, window))
        if "journal" in sources:  # ref: seq
            each = {t: heapq.nlargest(window, agent.postings.get(t, ())) for t in terms}
            every = []
            if cc.needs_every(each, window):
                every = heapq.nlargest(window, set.intersection(*(agent.postings[t] for t in terms)))
            df = {
                t: float(len(r))
                if len(r) < window
                else cc.estimate_df(window, len(agent.rows), agent.next_seq - r[-1])
                for t, r in each.items()
            }
            found.append(cc.Matches("journal", len(agent.rows), each, every, df))
        hits = []
        for source, ref, score in cc.rank(terms, found, limit):
            if source == "block":
                label, body = blocks[ref]
                hits.append(SearchHit("block", label, score, cc.snippet(body, terms)))
            else:
                row = agent.rows[ref]
                body = cc.index_text(row.text, row.data_json)
                hits.append(SearchHit("journal", row.id, score, cc.snippet(body, terms), row.seq))
        return hits

    # ------------------------------------------------------------ compaction

    async def compact(self, key: str, through_seq: int, summary: NewEntry) -> ArchiveInfo:
        agent = self._agents.get(key) or _Agent()
        folded = [agent.rows[s] for s in agent.seqs[: bisect.bisect_right(agent.seqs, through_seq)]]
        if not folded:
            raise ValidationFailed(f"nothing to compact at or before seq {through_seq}")
        kind, data_json, size = cc.check_entry(summary)
        full = [await self._full_entry(r) for r in folded]
        first, last = folded[0].seq, folded[-1].seq
        name = cc.archive_name(key, first, last)
        ref = await self._blobs.put(name, cc.archive_bytes(full), "application/json")
        now_rows = agent.seqs[: bisect.bisect_right(agent.seqs, through_seq)]
        if now_rows != [r.seq for r in folded]:
            raise VersionConflict(f"the journal changed while compacting through seq {through_seq}; retry")
        for row in folded:
            _remove(agent, row)
            agent.folded[row.id] = (row.seq, row.kind, row.ts)
        sid = cc.summary_id(first, last)
        srow = _Row(
            sid,
            last,
            summary.ts or cc.utcnow(),
            kind,
            summary.text,
            data_json,
            None,
            size,
            Counter(cc.words(cc.index_text(summary.text, data_json))),
        )
        _insert(agent, srow)
        info = ArchiveInfo(name, first, last, len(folded), ref.size, sid, cc.utcnow())
        agent.archives[name] = info
        return info

    async def list_archives(self, key: str) -> list[ArchiveInfo]:
        agent = self._agents.get(key)
        return [agent.archives[n] for n in sorted(agent.archives)] if agent else []

    async def read_archive(self, key: str, name: str) -> list[JournalEntry]:
        agent = self._agents.get(key)
        if agent is None or name not in agent.archives:
            raise NotFound(f"no archive '{name}' in this context; list_archives shows the names")
        return cc.archive_entries(await self._blobs.get(name))

    async def purge(self, key: str) -> dict[str, int]:
        agent = self._agents.pop(key, None) or _Agent()
        blobs = 0
        for ref in await self._blobs.list(f"context/{key}/"):
            blobs += await self._blobs.delete(ref.name)
        return {
            "blocks": len(agent.blocks),
            "entries": len(agent.rows) + len(agent.folded),
            "archives": len(agent.archives),
            "blobs": blobs,
        }


def _check_etag(label: str, current: MemoryBlock | None, etag: str | None, force: bool) -> None:
    if force:
        return
    if etag is None and current is not None:
        raise VersionConflict(
            f"block '{label}' already exists: pass its etag ({current.etag}) to replace it", label=label
        )
    if etag is not None and (current is None or current.etag != etag):
        raise VersionConflict(f"block '{label}' changed since etag {etag}: re-read it and retry", label=label)


def _replace_value(block: MemoryBlock, value: Any) -> MemoryBlock:
    return MemoryBlock(
        block.label, block.kind, value, block.size, block.limit, block.version, block.etag, block.updated_at
    )


def _known(agent: _Agent, entry_id: str | None) -> JournalEntry | None:
    if entry_id is None:
        return None
    if entry_id in agent.ids:
        return _entry(agent.rows[agent.ids[entry_id]])
    if entry_id in agent.folded:
        seq, kind, ts = agent.folded[entry_id]
        return cc.folded_entry(entry_id, seq, ts, kind)
    return None


def _insert(agent: _Agent, row: _Row) -> None:
    agent.rows[row.seq] = row
    bisect.insort(agent.seqs, row.seq)
    agent.ids[row.id] = row.seq
    for term in row.terms:
        agent.postings.setdefault(term, set()).add(row.seq)
    agent.entry_bytes += row.size


def _remove(agent: _Agent, row: _Row) -> None:
    del agent.rows[row.seq]
    agent.seqs.remove(row.seq)
    del agent.ids[row.id]
    for term in row.terms:
        agent.postings[term].discard(row.seq)
    agent.entry_bytes -= row.size


def _entry(row: _Row) -> JournalEntry:
    data = None if row.data_json is None else cc.decode_block_value(row.data_json, "json")
    return JournalEntry(row.id, row.seq, row.ts, row.kind, row.text, data, row.size)


def _stats(agent: _Agent) -> ContextStats:
    return ContextStats(
        blocks=len(agent.blocks),
        block_bytes=sum(b.size for b, _ in agent.blocks.values()),
        entries=len(agent.rows),
        entry_bytes=agent.entry_bytes,
        oldest_seq=agent.seqs[0] if agent.seqs else None,
        newest_seq=agent.seqs[-1] if agent.seqs else None,
    )
