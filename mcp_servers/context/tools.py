"""The context tools, built once at import and shared by every agent's server.

Why shared: turning a function into an MCP tool (signature → pydantic model → JSON schema) is the expensive
part of building a server. The tools find their agent through `ctx.mcp_server.binding`, so a per-agent server
is just a small object holding the binding: cheap enough to build per HTTP request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations
from pydantic import Field

from aos.errors import AosError
from aos.ports import ContextStore, NewEntry
from mcp_servers.context import models as m
from mcp_servers.context.compaction import Compactor

if TYPE_CHECKING:
    from mcp_servers.context.server import ContextServer


@dataclass(frozen=True)
class AgentBinding:
    """Which agent a server serves, and what it serves it from."""

    store: ContextStore
    tenant: str
    agent_id: str
    compactor: Compactor

    @property
    def key(self) -> str:
        return f"{self.tenant}/{self.agent_id}"

    def stats_out(self, stats: Any) -> m.StatsOut:
        b = self.compactor.budget
        return m.StatsOut.of(stats, b.max_entries, b.max_bytes)


def binding(ctx: Context) -> AgentBinding:
    server: ContextServer = ctx.mcp_server  # type: ignore[assignment]
    return server.binding


@contextmanager
def tool_errors() -> Iterator[None]:
    """AOS errors become `is_error` results whose text starts with the error kind (`version-conflict: ...`)."""
    try:
        yield
    except AosError as e:
        raise ToolError(f"{e.kind}: {e.detail}") from e


Label = Annotated[
    str, Field(description="block label: a-z, 0-9, '_', '.', '-', starting with a letter", max_length=64)
]
Etag = Annotated[str | None, Field(description="etag from the last read; omit to create a new block")]


async def block_list(ctx: Context) -> m.BlockList:
    """List the agent's memory blocks (label, value, etag, size and limit)."""
    b = binding(ctx)
    with tool_errors():
        return m.BlockList(blocks=[m.BlockOut.of(x) for x in await b.store.list_blocks(b.key)])


async def block_read(label: Label, ctx: Context) -> m.BlockOut:
    """Read one memory block with its current etag."""
    b = binding(ctx)
    with tool_errors():
        return m.BlockOut.of(await b.store.get_block(b.key, label))


async def block_write(
    label: Label,
    value: Annotated[Any, Field(description="the new value: a string for kind 'text', any JSON for 'json'")],
    ctx: Context,
    kind: Annotated[Literal["text", "json"], Field(description="how the value is stored")] = "text",
    etag: Etag = None,
    limit: Annotated[int | None, Field(description="new size limit in bytes (default: keep)", ge=1)] = None,
) -> m.BlockOut:
    """Create a block (no etag) or replace it (etag of the version you read). A stale etag is refused."""
    b = binding(ctx)
    with tool_errors():
        return m.BlockOut.of(await b.store.put_block(b.key, label, value, kind=kind, limit=limit, etag=etag))


async def block_delete(label: Label, ctx: Context, etag: Etag = None) -> m.Deleted:
    """Delete a block; with an etag, only if it is still that version."""
    b = binding(ctx)
    with tool_errors():
        return m.Deleted(deleted=await b.store.delete_block(b.key, label, etag=etag))


async def journal_append(
    kind: Annotated[str, Field(description="entry kind, e.g. note, event, decision, message", max_length=32)],
    ctx: Context,
    text: Annotated[str, Field(description="what happened, in words")] = "",
    data: Annotated[Any, Field(description="optional JSON payload")] = None,
    id: Annotated[str | None, Field(description="idempotency id: appending it again adds nothing")] = None,
) -> m.Appended:
    """Append an entry to the journal. Over budget, the oldest entries are compacted into a summary."""
    b = binding(ctx)
    with tool_errors():
        out = await b.store.append(b.key, [NewEntry(kind, text, data, id)])
        archive = await b.compactor.maybe_compact(b.key, out.stats)
        stats = await b.store.stats(b.key) if archive else out.stats
    return m.Appended(
        entry=m.EntryOut.of(out.entries[0]),
        added=out.added == 1,
        compacted=m.ArchiveOut.of(archive) if archive else None,
        stats=b.stats_out(stats),
    )


async def journal_page(
    ctx: Context,
    cursor: Annotated[str | None, Field(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Field(description="entries per page", ge=1, le=500)] = 50,
    kinds: Annotated[list[str] | None, Field(description="only these kinds")] = None,
    since: Annotated[
        datetime | None, Field(description="only entries at or after this time (ISO 8601)")
    ] = None,
    until: Annotated[datetime | None, Field(description="only entries before this time (ISO 8601)")] = None,
    newest_first: Annotated[bool, Field(description="page from the newest entry backwards")] = False,
) -> m.Page:
    """Page through the live journal by cursor, filtered by kind and time."""
    b = binding(ctx)
    with tool_errors():
        page = await b.store.page(
            b.key,
            cursor=cursor,
            limit=limit,
            kinds=kinds,
            since=since,
            until=until,
            newest_first=newest_first,
        )
    return m.Page(entries=[m.EntryOut.of(e) for e in page.entries], next_cursor=page.next_cursor)


async def search(
    query: Annotated[
        str, Field(description="keywords (the first 16 count); hits holding all of them rank first")
    ],
    ctx: Context,
    limit: Annotated[int, Field(description="most hits to return", ge=1, le=100)] = 10,
    sources: Annotated[
        list[Literal["block", "journal"]], Field(description="where to search", min_length=1)
    ] = ["block", "journal"],  # noqa: B006 - pydantic copies defaults
) -> m.Hits:
    """Keyword search over memory blocks and the live journal, best match first.

    Hits holding every word come first (found anywhere in the journal when one of the words is in fewer than
    200 entries), then hits holding some of the words, rarer words weighing more; ties go to blocks, then to
    newer entries. Each word is looked up in its 200 newest matches only, so a common word's old mentions are
    not returned: add a rarer word of the entry you want."""
    b = binding(ctx)
    if not query.strip():
        raise ToolError("validation: query is empty; pass one or more keywords")
    with tool_errors():
        hits = await b.store.search(b.key, query, limit=limit, sources=sources)
    return m.Hits(hits=[m.Hit.of(h) for h in hits])


async def compact(
    ctx: Context,
    force: Annotated[bool, Field(description="compact the older half even when within budget")] = False,
) -> m.Compacted:
    """Fold old journal entries into a summary entry and archive them (readable with archive_read)."""
    b = binding(ctx)
    with tool_errors():
        stats = await b.store.stats(b.key)
        archive = await b.compactor.compact(b.key, stats, force=force)
        stats = await b.store.stats(b.key)
    return m.Compacted(
        compacted=archive is not None,
        archive=m.ArchiveOut.of(archive) if archive else None,
        stats=b.stats_out(stats),
    )


async def archive_list(ctx: Context) -> m.ArchiveList:
    """List compaction archives, oldest first."""
    b = binding(ctx)
    with tool_errors():
        return m.ArchiveList(archives=[m.ArchiveOut.of(a) for a in await b.store.list_archives(b.key)])


async def archive_read(
    name: Annotated[str, Field(description="archive name from archive_list", min_length=1, max_length=1024)],
    ctx: Context,
) -> m.ArchiveEntries:
    """Read the entries a compaction folded into an archive."""
    b = binding(ctx)
    with tool_errors():
        entries = await b.store.read_archive(b.key, name)
    return m.ArchiveEntries(name=name, entries=[m.EntryOut.of(e) for e in entries])


async def stats(ctx: Context) -> m.StatsOut:
    """Live size of the context against its budget."""
    b = binding(ctx)
    with tool_errors():
        return b.stats_out(await b.store.stats(b.key))


# Async like every context tool: the SDK runs a plain function on a worker thread, a hand-off (~0.1-0.3 ms
# here) that the tools it stands beside do not pay.
async def noop() -> m.Pong:
    """Does nothing: the transport's floor, for benchmarks."""
    return m.Pong()


_READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False)
_DELETE = ToolAnnotations(read_only_hint=False, destructive_hint=True)


def flat_schema(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """The same JSON schema without `$ref`s (each `#/$defs/X` replaced by X) and with `anyOf` of bare types
    as one `type` list (`{"anyOf": [{"type": "integer"}, {"type": "null"}]}` → `{"type": ["integer", "null"]}`).

    Why: an MCP client validates every structured result against the tool's output schema, and the Python
    SDK's (jsonschema) pays dearly for each `$ref` it follows and each `anyOf` branch it tries: validating
    five search hits took 0.6 ms against pydantic's schema, 0.26 ms against this one. Our models are not
    recursive, so inlining terminates."""
    if isinstance(schema, list):
        return [flat_schema(x, defs) for x in schema]
    if not isinstance(schema, dict):
        return schema
    if defs is None:
        defs = schema.get("$defs", {})
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = flat_schema(defs[ref.removeprefix("#/$defs/")], defs)
        return target | {k: flat_schema(v, defs) for k, v in schema.items() if k != "$ref"}
    out = {k: flat_schema(v, defs) for k, v in schema.items() if k != "$defs"}
    alts = out.get("anyOf")
    if isinstance(alts, list) and all(isinstance(a, dict) and a.keys() == {"type"} for a in alts):
        del out["anyOf"]
        out["type"] = [a["type"] for a in alts]
    return out


def _tool(fn: Any, annotations: ToolAnnotations) -> Tool:
    tool = Tool.from_function(fn, annotations=annotations, structured_output=True)
    tool.fn_metadata.output_schema = flat_schema(tool.fn_metadata.output_schema)
    return tool


TOOLS: tuple[Tool, ...] = tuple(
    _tool(fn, ann)
    for fn, ann in (
        (block_list, _READ),
        (block_read, _READ),
        (block_write, _WRITE),
        (block_delete, _DELETE),
        (journal_append, _WRITE),
        (journal_page, _READ),
        (search, _READ),
        (compact, _WRITE),
        (archive_list, _READ),
        (archive_read, _READ),
        (stats, _READ),
    )
)
NOOP_TOOL = _tool(noop, _READ)
