"""Over stdio: the module as a subprocess, a real MCP stdio client; a killed process loses nothing written."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.unit.context.test_inprocess import TOOLS

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[3]


@asynccontextmanager
async def stdio_client(data_dir: Path, *extra: str) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "mcp_servers.context",
            "--data-dir",
            str(data_dir),
            "--tenant",
            "t1",
            "--agent",
            "agent-a",
        ]
        + list(extra),
        cwd=str(ROOT),
    )
    async with Client(params, cache=None) as c:
        yield c


def _server_pids(data_dir: Path) -> list[int]:
    """Our server subprocesses, found by their unique --data-dir (Linux /proc)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"mcp_servers.context" in cmd and str(data_dir).encode() in cmd:
            pids.append(int(proc.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the server process through /proc")
async def test_stdio_context_survives_a_killed_process(tmp_path: Path) -> None:
    async with stdio_client(tmp_path) as c:
        assert {t.name for t in (await c.list_tools()).tools} == TOOLS
        wrote = await c.call_tool("block_write", {"label": "notes", "value": "durable"})
        assert not wrote.is_error
        for i in range(3):
            await c.call_tool("journal_append", {"kind": "note", "text": f"entry {i}", "id": f"e{i}"})
        pids = _server_pids(tmp_path)
        assert len(pids) == 1
        os.kill(pids[0], signal.SIGKILL)
    async with stdio_client(tmp_path) as c:
        block = (await c.call_tool("block_read", {"label": "notes"})).structured_content
        assert block["value"] == "durable"  # type: ignore[index]
        page = (await c.call_tool("journal_page", {})).structured_content
        assert [e["id"] for e in page["entries"]] == ["e0", "e1", "e2"]  # type: ignore[index]
        hits = (await c.call_tool("search", {"query": "entry"})).structured_content
        assert len(hits["hits"]) == 3  # type: ignore[index]


async def test_stdio_budget_flags_set_when_compaction_starts(tmp_path: Path) -> None:
    async with stdio_client(tmp_path, "--max-entries", "4") as c:
        out = [await c.call_tool("journal_append", {"kind": "note", "text": f"entry {i}"}) for i in range(5)]
    assert [r.structured_content["compacted"] is not None for r in out] == [False] * 4 + [True]  # type: ignore[index]
    assert out[-1].structured_content["stats"]["max_entries"] == 4  # type: ignore[index]
