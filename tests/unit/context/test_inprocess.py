"""The ContextMCPServer through a real MCP client session, in-process (the path the kernel's steps use)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from mcp import Client

from aos.errors import ValidationFailed, VersionConflict
from aos.model import Decision, Event, NoteEffect
from aos.ports import ContextStore
from mcp_servers.context import Budget, ContextMCPProvider, build_server

pytestmark = pytest.mark.anyio
T, A, B = "t1", "agent-a", "agent-b"

TOOLS = {
    "block_list", "block_read", "block_write", "block_delete", "journal_append", "journal_page", "search",
    "compact", "archive_list", "archive_read", "stats",
}  # fmt: skip

#: One bad call per tool, and the words its error must contain.
BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("block_read", {"label": "x" * 65}, "label"),
    ("block_read", {}, "label"),
    ("block_write", {"label": "x!", "value": "v"}, "label"),
    ("block_write", {"label": "notes", "value": {"a": 1}}, "string"),
    ("block_write", {"label": "notes", "value": "v", "kind": "yaml"}, "kind"),
    ("block_write", {"label": "notes", "value": "v" * 50, "limit": 10}, "over its limit"),
    ("block_delete", {"label": 5}, "label"),
    ("journal_append", {"kind": "Bad Kind", "text": "x"}, "kind"),
    ("journal_append", {"kind": "note"}, "text or data"),
    ("journal_page", {"limit": 0}, "limit"),
    ("journal_page", {"cursor": "not-a-cursor"}, "cursor"),
    ("journal_page", {"since": "yesterday"}, "since"),
    ("search", {"query": "   "}, "query is empty"),
    ("search", {"query": "x", "sources": ["files"]}, "sources"),
    ("compact", {"force": "maybe"}, "force"),
    ("archive_read", {"name": "nope"}, "no archive"),
    ("archive_list", {"extra": 1}, "extra"),
    ("stats", {"x": 1}, "x"),
    ("block_list", {"y": 1}, "y"),
]


async def test_tools_resources_and_templates_are_listed(store: ContextStore) -> None:
    async with Client(build_server(store, T, A), cache=None) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert set(tools) == TOOLS
        for t in tools.values():
            assert t.description and t.output_schema, t.name
            assert "$ref" not in json.dumps(t.output_schema), t.name  # flat_schema: cheap to validate
        assert tools["block_write"].input_schema["properties"]["etag"]["description"]
        assert f"its {ContextStore.SEARCH_WINDOW} newest matches" in tools["search"].description
        templates = {t.uri_template for t in (await c.list_resource_templates()).resource_templates}
        assert templates == {"context://{agent}/blocks/{label}", "context://{agent}/journal"}


async def test_session_calls_return_structured_results(store: ContextStore) -> None:
    provider = ContextMCPProvider(store)
    await provider.provision(T, A, "Keep the invoices straight")
    async with provider.session(T, A) as s:
        block = await s.call("block_read", {"label": "purpose"})
        assert block["value"] == "Keep the invoices straight" and block["version"] == 1
        out = await s.call("journal_append", {"kind": "note", "text": "invoice 7 paid", "id": "n1"})
        assert out["added"] is True and out["entry"]["seq"] == 1
        again = await s.call("journal_append", {"kind": "note", "text": "invoice 7 paid", "id": "n1"})
        assert again["added"] is False
        hits = await s.call("search", {"query": "invoices"})
        assert {h["ref"] for h in hits["hits"]} == {"purpose", "n1"}
        assert {t["name"] for t in await s.tools()} == TOOLS
        with pytest.raises(VersionConflict):
            await s.call("block_write", {"label": "purpose", "value": "x", "etag": "stale"})
    await provider.provision(T, A, "A new purpose")
    async with provider.session(T, A) as s:
        assert (await s.call("block_read", {"label": "purpose"}))["value"] == "A new purpose"


@pytest.mark.parametrize(
    ("tool", "args", "words"), BAD_CALLS, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(BAD_CALLS)]
)
async def test_bad_input_is_an_error_result_and_writes_nothing(
    store: ContextStore, tool: str, args: dict[str, Any], words: str
) -> None:
    async with Client(build_server(store, T, A), cache=None) as c:
        result = await c.call_tool(tool, args)
        assert result.is_error
        text = result.content[0].text  # type: ignore[union-attr]
        assert words in text and tool in text
    stats = await store.stats(f"{T}/{A}")
    assert (stats.blocks, stats.entries) == (0, 0)
    assert await store.list_archives(f"{T}/{A}") == []


async def test_session_raises_validation_failed_on_bad_input(store: ContextStore) -> None:
    async with ContextMCPProvider(store).session(T, A) as s:
        with pytest.raises(ValidationFailed, match="label"):
            await s.call("block_write", {"label": "Bad Label", "value": "x"})


async def test_two_writers_same_etag_one_wins(store: ContextStore) -> None:
    provider = ContextMCPProvider(store)
    async with provider.session(T, A) as s1, provider.session(T, A) as s2:
        first = await s1.call("block_write", {"label": "plan", "value": "v1"})
        results = await asyncio.gather(
            s1.call("block_write", {"label": "plan", "value": "left", "etag": first["etag"]}),
            s2.call("block_write", {"label": "plan", "value": "right", "etag": first["etag"]}),
            return_exceptions=True,
        )
    wins = [r for r in results if isinstance(r, dict)]
    losses = [r for r in results if isinstance(r, VersionConflict)]
    assert len(wins) == 1 and len(losses) == 1
    assert "re-read it and retry" in losses[0].detail
    assert (await store.get_block(f"{T}/{A}", "plan")).value == wins[0]["value"]


async def test_resources_read_blocks_and_journal_of_own_agent_only(store: ContextStore) -> None:
    async with Client(build_server(store, T, A), cache=None) as c:
        await c.call_tool("block_write", {"label": "facts", "value": {"k": [1]}, "kind": "json"})
        await c.call_tool("journal_append", {"kind": "note", "text": "hello"})
        uris = {str(r.uri) for r in (await c.list_resources()).resources}
        assert uris == {"context://agent-a/blocks/facts", "context://agent-a/journal"}
        block = await c.read_resource("context://agent-a/blocks/facts")
        assert block.contents[0].text == '{"k": [1]}'  # type: ignore[union-attr]
        journal = await c.read_resource("context://agent-a/journal")
        assert '"hello"' in journal.contents[0].text  # type: ignore[union-attr]
        for uri in (
            "context://agent-b/journal",
            "context://agent-b/blocks/facts",
            "context://agent-a/blocks/nope",
        ):
            with pytest.raises(Exception, match="agent-a|no block"):
                await c.read_resource(uri)


async def test_record_step_is_idempotent_and_purge_counts(store: ContextStore) -> None:
    provider = ContextMCPProvider(store)
    await provider.provision(T, A, "p")
    events = [Event(source="test", type="ticket.opened", data={"n": i}) for i in range(2)]
    decision = Decision(effects=[NoteEffect(text="seen")], summary="noted two tickets")
    await provider.record_step(T, A, 1, events, decision)
    await provider.record_step(T, A, 1, events, decision)
    page = await store.page(f"{T}/{A}")
    assert [e.id for e in page.entries] == ["step-1", "step-1-note-0"]
    assert page.entries[0].kind == "step"
    assert page.entries[0].text == "2 events: ticket.opened ×2 → noted two tickets"
    data = page.entries[0].data
    assert [e["data"] for e in data["events"]] == [{"n": 0}, {"n": 1}]  # type: ignore[index]
    assert data["decision"]["summary"] == "noted two tickets"  # type: ignore[index]
    assert (page.entries[1].kind, page.entries[1].text) == ("note", "seen")
    assert await provider.purge(T, A) == {"blocks": 1, "entries": 2, "archives": 0, "blobs": 0}


async def test_a_step_too_large_to_journal_whole_is_journaled_as_an_outline(store: ContextStore) -> None:
    provider = ContextMCPProvider(store)
    big = "x" * 300_000
    events = [Event(id=f"big-{i}", source="test", type="doc.uploaded", data={"body": big}) for i in range(4)]
    decision = Decision(effects=[NoteEffect(text="long " * 3000)], summary="read them")
    await provider.record_step(T, A, 7, events, decision)  # 1.2 MB of events: over ContextStore.MAX_ENTRY_BYTES
    page = await store.page(f"{T}/{A}")
    step, note = page.entries
    assert step.id == "step-7" and step.text == "4 events: doc.uploaded ×4 → read them"
    assert [e["id"] for e in step.data["events"]] == [f"big-{i}" for i in range(4)]  # type: ignore[index]
    assert "event log" in step.data["truncated"]  # type: ignore[index]
    assert step.data["decision"] == {"summary": "read them", "effects": ["note"]}  # type: ignore[index]
    assert note.id == "step-7-note-0" and note.text == "long " * 3000


async def test_compaction_over_budget_keeps_everything_reachable(store: ContextStore) -> None:
    budget = Budget(max_entries=10, max_bytes=10_000_000, keep=0.5)
    async with Client(build_server(store, T, A, budget=budget), cache=None) as c:
        compacted = []
        for i in range(25):
            out = await c.call_tool("journal_append", {"kind": "note", "text": f"fact {i}", "id": f"f{i}"})
            assert not out.is_error
            if out.structured_content["compacted"]:  # type: ignore[index]
                compacted.append(out.structured_content["compacted"])  # type: ignore[index]
        assert compacted, "appending past the budget must compact"
        stats = (await c.call_tool("stats", {})).structured_content
        assert stats["entries"] <= 10  # type: ignore[index]
        archives = (await c.call_tool("archive_list", {})).structured_content["archives"]  # type: ignore[index]
        archived: list[str] = []
        for a in archives:
            read = await c.call_tool("archive_read", {"name": a["name"]})
            archived += [e["id"] for e in read.structured_content["entries"]]  # type: ignore[index]
        live = (await c.call_tool("journal_page", {"limit": 500})).structured_content["entries"]  # type: ignore[index]
        summaries = [e for e in live if e["kind"] == "summary"]
        assert summaries and "Summary of" in summaries[-1]["text"]
        reachable = {e["id"] for e in live} | set(archived)
        assert {f"f{i}" for i in range(25)} <= reachable
        forced = (await c.call_tool("compact", {"force": True})).structured_content
        assert forced["compacted"] is True  # type: ignore[index]


async def test_summarizer_hook_writes_the_summary(store: ContextStore) -> None:
    async def brain(entries: Any) -> str:
        return f"brain folded {len(entries)}"

    async with Client(
        build_server(store, T, A, budget=Budget(max_entries=4), summarizer=brain), cache=None
    ) as c:
        for i in range(5):
            await c.call_tool("journal_append", {"kind": "note", "text": f"n{i}"})
        live = (await c.call_tool("journal_page", {})).structured_content["entries"]  # type: ignore[index]
    assert live[0]["kind"] == "summary" and live[0]["text"].startswith("brain folded")
