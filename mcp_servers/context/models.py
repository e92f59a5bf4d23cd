"""The wire shapes of the context tools (MCP structured outputs). Pydantic, because they cross a boundary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from aos.ports import ArchiveInfo, ContextStats, JournalEntry, MemoryBlock, SearchHit


class BlockOut(BaseModel):
    label: str
    kind: str = Field(description="'text' or 'json'")
    value: Any
    size: int = Field(description="bytes stored")
    limit: int = Field(description="most bytes the block may hold")
    version: int
    etag: str = Field(description="pass back to block_write/block_delete to change this version")
    updated_at: datetime

    @staticmethod
    def of(b: MemoryBlock) -> BlockOut:
        return BlockOut(
            label=b.label,
            kind=b.kind,
            value=b.value,
            size=b.size,
            limit=b.limit,
            version=b.version,
            etag=b.etag,
            updated_at=b.updated_at,
        )


class BlockList(BaseModel):
    blocks: list[BlockOut]


class Deleted(BaseModel):
    deleted: bool = Field(description="False when there was no such block")


class EntryOut(BaseModel):
    id: str
    seq: int = Field(description="position in the journal; never reused")
    ts: datetime
    kind: str
    text: str
    data: Any = None

    @staticmethod
    def of(e: JournalEntry) -> EntryOut:
        return EntryOut(id=e.id, seq=e.seq, ts=e.ts, kind=e.kind, text=e.text, data=e.data)


class StatsOut(BaseModel):
    blocks: int
    block_bytes: int
    entries: int = Field(description="live journal entries (compacted ones are in archives)")
    entry_bytes: int
    max_entries: int = Field(description="budget: compaction starts above this many live entries")
    max_bytes: int = Field(description="budget: compaction starts above this many live entry bytes")

    @staticmethod
    def of(s: ContextStats, max_entries: int, max_bytes: int) -> StatsOut:
        return StatsOut(
            blocks=s.blocks,
            block_bytes=s.block_bytes,
            entries=s.entries,
            entry_bytes=s.entry_bytes,
            max_entries=max_entries,
            max_bytes=max_bytes,
        )


class ArchiveOut(BaseModel):
    name: str
    first_seq: int
    last_seq: int
    entries: int
    bytes: int
    summary_id: str = Field(description="id of the journal entry that summarizes this archive")
    created_at: datetime

    @staticmethod
    def of(a: ArchiveInfo) -> ArchiveOut:
        return ArchiveOut(
            name=a.name,
            first_seq=a.first_seq,
            last_seq=a.last_seq,
            entries=a.entries,
            bytes=a.bytes,
            summary_id=a.summary_id,
            created_at=a.created_at,
        )


class Appended(BaseModel):
    entry: EntryOut
    added: bool = Field(description="False when an entry with this id was already in the journal")
    compacted: ArchiveOut | None = Field(
        default=None, description="set when this append triggered compaction"
    )
    stats: StatsOut


class Page(BaseModel):
    entries: list[EntryOut]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null at the end")


class Hit(BaseModel):
    source: str = Field(description="'block' or 'journal'")
    ref: str = Field(description="block label or entry id")
    score: float
    snippet: str
    seq: int | None = None

    @staticmethod
    def of(h: SearchHit) -> Hit:
        return Hit(source=h.source, ref=h.ref, score=round(h.score, 6), snippet=h.snippet, seq=h.seq)


class Hits(BaseModel):
    hits: list[Hit]


class Compacted(BaseModel):
    compacted: bool = Field(description="False when the context was within budget and force was not set")
    archive: ArchiveOut | None = None
    stats: StatsOut


class ArchiveList(BaseModel):
    archives: list[ArchiveOut]


class ArchiveEntries(BaseModel):
    name: str
    entries: list[EntryOut]


class Pong(BaseModel):
    ok: bool = True
