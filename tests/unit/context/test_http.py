"""The HTTP app under a real uvicorn: MCP clients with bearer tokens, isolation, problem+json, MCP Inspector."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.unit.context.test_inprocess import TOOLS

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[3]
INSPECTOR = ROOT / "node_modules" / ".bin" / "mcp-inspector"


@asynccontextmanager
async def client(url: str, token: str | None) -> AsyncIterator[Client]:
    """An MCP client over streamable HTTP sending a bearer token (the SDK leaves our httpx client to us)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=10) as http,
        Client(streamable_http_client(url, http_client=http), cache=None) as c,
    ):
        yield c


async def test_agent_token_reads_and_writes_its_own_context(http_url: str) -> None:
    async with client(f"{http_url}/agent-a", "agent:agent-a") as c:
        assert {t.name for t in (await c.list_tools()).tools} == TOOLS
        wrote = await c.call_tool("block_write", {"label": "notes", "value": "over http"})
        assert not wrote.is_error
        read = await c.call_tool("block_read", {"label": "notes"})
        assert read.structured_content["value"] == "over http"  # type: ignore[index]
        bad = await c.call_tool("journal_append", {"kind": "Bad Kind", "text": "x"})
        assert bad.is_error and "kind" in bad.content[0].text  # type: ignore[union-attr]
        res = await c.read_resource("context://agent-a/blocks/notes")
        assert res.contents[0].text == "over http"  # type: ignore[union-attr]
    async with client(f"{http_url}/agent-a", "admin") as c:
        assert (await c.call_tool("block_read", {"label": "notes"})).structured_content[
            "value"
        ] == "over http"  # type: ignore[index]


async def test_concurrent_http_writers_same_etag(http_url: str) -> None:
    async with client(f"{http_url}/agent-a", "admin") as c1, client(f"{http_url}/agent-a", "admin") as c2:
        first = (await c1.call_tool("block_write", {"label": "plan", "value": "v1"})).structured_content
        args = {"label": "plan", "etag": first["etag"]}  # type: ignore[index]
        results = await asyncio.gather(
            c1.call_tool("block_write", {**args, "value": "left"}),
            c2.call_tool("block_write", {**args, "value": "right"}),
        )
    assert sorted(r.is_error for r in results) == [False, True]
    loser = next(r for r in results if r.is_error)
    assert "version-conflict" in loser.content[0].text  # type: ignore[union-attr]


def _rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


#: Every request an MCP client could make of agent B's server: each tool, each resource, the lists.
FOREIGN_REQUESTS = [
    _rpc("tools/call", {"name": t, "arguments": {"label": "notes"}}) for t in sorted(TOOLS)
] + [
    _rpc("resources/read", {"uri": "context://agent-b/blocks/notes"}),
    _rpc("resources/read", {"uri": "context://agent-b/journal"}),
    _rpc("resources/list", {}),
    _rpc("resources/templates/list", {}),
    _rpc("tools/list", {}),
    _rpc(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    ),
]


async def test_agent_token_cannot_reach_another_agent(http_url: str) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with client(f"{http_url}/agent-b", "admin") as c:
        await c.call_tool("block_write", {"label": "notes", "value": "secret of b"})
    async with httpx2.AsyncClient(base_url=http_url, timeout=10) as http:
        for body in FOREIGN_REQUESTS:
            r = await http.post(
                "/agent-b", json=body, headers={**headers, "Authorization": "Bearer agent:agent-a"}
            )
            assert r.status_code == 403, body
            assert r.headers["content-type"] == "application/problem+json"
            problem = r.json()
            assert (
                problem["status"] == 403
                and problem["title"] == "Forbidden"
                and "agent-a" in problem["detail"]
            )
            assert "secret" not in r.text
        r = await http.post("/agent-b", json=FOREIGN_REQUESTS[0], headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        r = await http.post("/Not_An_Agent", json=FOREIGN_REQUESTS[0], headers=headers)
        assert r.status_code == 404
    with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces a refused HTTP request as its own error
        async with client(f"{http_url}/agent-b", "agent:agent-a") as c:
            await c.list_tools()


async def test_stateless_json_responses(http_url: str) -> None:
    """No session id, JSON not SSE: any instance can answer any request (DESIGN.md)."""
    headers = {
        "Accept": "application/json, text/event-stream",
        "Authorization": "Bearer admin",
        "MCP-Protocol-Version": "2025-06-18",
    }
    async with httpx2.AsyncClient(base_url=http_url, timeout=10) as http:
        r = await http.post("/agent-a", json=_rpc("tools/list", {}), headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert "mcp-session-id" not in r.headers
    assert {t["name"] for t in r.json()["result"]["tools"]} == TOOLS


@pytest.mark.skipif(not INSPECTOR.exists(), reason="node_modules absent: run `npm ci` at the repo root")
async def test_mcp_inspector_lists_and_calls_tools(http_url: str) -> None:
    node = shutil.which("node")
    assert node, "node is needed for the MCP Inspector"
    base = [
        str(INSPECTOR),
        "--cli",
        f"{http_url}/agent-a",
        "--transport",
        "http",
        "--header",
        "Authorization: Bearer agent:agent-a",
    ]
    listed = await _run([*base, "--method", "tools/list"])
    assert {t["name"] for t in listed["tools"]} == TOOLS
    called = await _run(
        [
            *base,
            "--method",
            "tools/call",
            "--tool-name",
            "journal_append",
            "--tool-arg",
            "kind=note",
            "--tool-arg",
            "text=from the inspector",
        ]
    )
    assert called["structuredContent"]["entry"]["text"] == "from the inspector"
    denied = await asyncio.create_subprocess_exec(
        *[a.replace("agent:agent-a", "agent:agent-b") for a in base],
        "--method",
        "tools/list",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        await denied.communicate()
    assert denied.returncode != 0


async def _run(argv: list[str]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)  # type: ignore[no-any-return]
