"""Each agent's ContextMCPServer on a real `aos up`: MCP over HTTP with API keys, the MCP Inspector, and stdio."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from .conftest import ADMIN, BIN, ROOT, Server, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
INSPECTOR = ROOT / "node_modules" / ".bin" / "mcp-inspector"


def http_client(url: str, key: str):  # type: ignore[no-untyped-def]
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=10)
    return http, Client(streamable_http_client(url, http_client=http), cache=None)


def issue_agent_key(server: Server, agent: str) -> str:
    with server.client() as api:
        return str(api.post("/api/keys", json={"role": "agent", "agent_id": agent}).json()["secret"])


async def test_context_over_http_with_api_keys(server: Server) -> None:
    with server.client() as api:
        api.post("/api/events", json={"type": "ticket.created", "source": "e2e", "data": {"id": "C-1",
                                                                                          "category": "billing"}})
        wait_until(lambda: api.get("/api/agents/triage/steps").json()["items"], what="a triage step")
    triage_key = issue_agent_key(server, "triage")

    http, client = http_client(f"{server.url}/mcp/agents/triage", ADMIN)
    async with http, client:
        purpose = (await client.call_tool("block_read", {"label": "purpose"})).structured_content
        assert purpose is not None and purpose["value"].startswith("Route support tickets")
        page = (await client.call_tool("journal_page", {})).structured_content
        assert page is not None
        assert any(e["kind"] == "note" and "routed C-1 to billing-desk" in e["text"] for e in page["entries"])

    http, client = http_client(f"{server.url}/mcp/agents/triage", triage_key)
    async with http, client:
        wrote = await client.call_tool("block_write", {"label": "working_notes", "value": "from my own key"})
        assert not wrote.is_error

    async with httpx2.AsyncClient(timeout=10) as raw:
        rpc = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        headers = {"Accept": "application/json, text/event-stream"}
        other = await raw.post(f"{server.url}/mcp/agents/billing-desk", json=rpc,
                               headers={**headers, "Authorization": f"Bearer {triage_key}"})
        assert other.status_code == 403 and other.headers["content-type"] == "application/problem+json"
        anonymous = await raw.post(f"{server.url}/mcp/agents/triage", json=rpc, headers=headers)
        assert anonymous.status_code == 401
        ghost = await raw.post(f"{server.url}/mcp/agents/ghost", json=rpc,
                               headers={**headers, "Authorization": f"Bearer {ADMIN}"})
        assert ghost.status_code == 404


@pytest.mark.skipif(not INSPECTOR.exists(), reason="node_modules absent: `make test` runs `npm ci` first")
def test_mcp_inspector_cli_against_aos_up(server: Server) -> None:
    base = [str(INSPECTOR), "--cli", f"{server.url}/mcp/agents/reporter", "--transport", "http",
            "--header", f"Authorization: Bearer {ADMIN}"]
    listed = subprocess.run([*base, "--method", "tools/list"], capture_output=True, text=True, timeout=90,
                            check=False)
    assert listed.returncode == 0, listed.stderr
    assert {"block_read", "journal_append", "search"} <= {t["name"] for t in json.loads(listed.stdout)["tools"]}
    called = subprocess.run([*base, "--method", "tools/call", "--tool-name", "block_read",
                             "--tool-arg", "label=purpose"], capture_output=True, text=True, timeout=90,
                            check=False)
    assert called.returncode == 0, called.stderr
    assert "Summarize the support desk" in json.loads(called.stdout)["structuredContent"]["value"]


async def test_aos_mcp_context_over_stdio(server: Server, tmp_path: Path) -> None:
    server.stop()
    params = StdioServerParameters(command=str(BIN / "aos"),
                                   args=["mcp", "context", "triage", "--data-dir", str(server.data_dir)])
    with anyio.fail_after(30):
        async with Client(params, cache=None) as client:
            purpose = (await client.call_tool("block_read", {"label": "purpose"})).structured_content
            assert purpose is not None and "Route support tickets" in purpose["value"]
    missing = await anyio.run_process(
        [str(BIN / "aos"), "mcp", "context", "ghost", "--data-dir", str(server.data_dir)], check=False)
    assert missing.returncode == 1 and b"ghost" in missing.stderr
