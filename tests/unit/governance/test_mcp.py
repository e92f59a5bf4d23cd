"""External MCP requests to an agent's ContextMCPServer pass the policy engine and leave one audit record each,
through a real MCP client (streamable HTTP over an in-process ASGI transport) against the whole API app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from aos.api import create_app
from aos.config import Config
from aos.runtime import System
from mcp_servers.context.gate import DENIED

pytestmark = pytest.mark.anyio
ADMIN = "test-admin-key-0123456789"
AGENT = {"id": "scribe", "brain": {"kind": "python", "settings": {
    "entrypoint": "tests.unit.governance.brains:scripted"}}, "labels": {"tier": "low"}}


@pytest.fixture
async def app(tmp_path: Any) -> AsyncIterator[Any]:
    async with System.open(Config(backend="embedded", admin_key=ADMIN, default_tenant="acme", data_dir=tmp_path),
                           run=False) as sys:
        yield create_app(sys)


@pytest.fixture
async def api(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aos",
                                 headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        assert (await client.post("/api/agents", json=AGENT)).status_code == 201
        yield client


@asynccontextmanager
async def mcp(app: Any, token: str, agent: str = "scribe") -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), headers={"Authorization": f"Bearer {token}"},
                           timeout=10) as http,
        Client(streamable_http_client(f"http://aos/mcp/agents/{agent}", http_client=http), cache=None) as c,
    ):
        yield c


async def key(api: httpx.AsyncClient, role: str, agent_id: str | None = None) -> tuple[str, str]:
    r = await api.post("/api/keys", json={"role": role, "agent_id": agent_id})
    assert r.status_code == 201, r.text
    return r.json()["secret"], r.json()["id"]


async def mcp_records(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    items = (await api.get("/api/audit", params={"kind": "mcp", "limit": 100})).json()["items"]
    return list(reversed(items))


async def test_each_request_is_audited_with_tool_agent_key_and_outcome_but_no_values(
        app: Any, api: httpx.AsyncClient) -> None:
    secret, key_id = await key(api, "agent", "scribe")
    async with mcp(app, secret) as c:
        await c.list_tools()  # not a context access: not governed, not recorded
        assert not (await c.call_tool("block_write", {"label": "plan", "value": "SECRET-PLAN-42"})).is_error
        assert (await c.call_tool("block_read", {"label": "nope"})).is_error
        await c.read_resource("context://scribe/blocks/plan")
    rows = await mcp_records(api)
    assert [(r["action"], r["outcome"], r["details"]["context"]) for r in rows] == [
        ("tool.call:block_write", "ok", "context.write"),
        ("tool.call:block_read", "error", "context.read"),
        ("context.read", "ok", "context.read"),
    ]
    assert all(r["agent_id"] == "scribe" and r["actor"] == f"key:{key_id}" for r in rows)
    assert rows[2]["details"]["resource"] == "block" and rows[0]["details"]["tool"] == "block_write"
    body = str(rows)
    assert "SECRET-PLAN-42" not in body and "plan" not in body and secret not in body
    assert (await api.post("/api/audit:verify")).json()["ok"] is True


async def test_a_policy_denies_context_writes_and_single_tools_as_mcp_errors(app: Any, api: httpx.AsyncClient) -> None:
    r = await api.put("/api/policies/mcp-guard", json={"rules": [
        {"id": "read-only-low", "actions": ["context.write"], "effect": "deny", "reason": "low tier reads only",
         "when": {"agent_labels": {"tier": "low"}, "roles": ["agent", "operator"]}},
        {"id": "no-search", "actions": ["tool.call:search"], "effect": "deny", "reason": "search is costly"}]})
    assert r.status_code == 200, r.text
    op_secret, _ = await key(api, "operator")
    async with mcp(app, op_secret) as c:
        with pytest.raises(MCPError) as denied:
            await c.call_tool("journal_append", {"kind": "note", "text": "hello"})
        assert denied.value.error.code == DENIED
        data = denied.value.error.data
        assert (data["status"], data["policy"], data["rule"], data["reason"]) == (
            403, "mcp-guard", "read-only-low", "low tier reads only")
        with pytest.raises(MCPError, match="search is costly"):
            await c.call_tool("search", {"query": "x"})
        assert not (await c.call_tool("stats", {})).is_error  # the session goes on; reads pass
    async with mcp(app, ADMIN) as c:  # admins are not matched by the rule's roles
        assert not (await c.call_tool("journal_append", {"kind": "note", "text": "hello"})).is_error
    rows = await mcp_records(api)
    assert [(r["action"], r["outcome"]) for r in rows] == [
        ("tool.call:journal_append", "denied"), ("tool.call:search", "denied"), ("tool.call:stats", "ok"),
        ("tool.call:journal_append", "ok")]
    assert rows[0]["details"]["rule"] == "read-only-low" and rows[1]["details"]["rule"] == "no-search"
    assert "hello" not in str(rows)


async def test_a_denied_resource_read_is_refused_and_recorded(app: Any, api: httpx.AsyncClient) -> None:
    await api.put("/api/policies/dark", json={"rules": [
        {"id": "no-reads", "actions": ["context.read"], "effect": "deny", "reason": "dark",
         "when": {"roles": ["operator"]}}]})
    op_secret, _ = await key(api, "operator")
    async with mcp(app, op_secret) as c:
        with pytest.raises(MCPError, match="dark"):
            await c.read_resource("context://scribe/journal")
        with pytest.raises(MCPError, match="dark"):
            await c.list_resources()
    rows = await mcp_records(api)
    assert [(r["action"], r["outcome"], r["details"]["method"]) for r in rows] == [
        ("context.read", "denied", "resources/read"), ("context.read", "denied", "resources/list")]


async def test_a_request_whose_record_cannot_be_written_is_answered_with_a_problem(
        app: Any, api: httpx.AsyncClient) -> None:
    from aos.api.mcp_gate import KernelGate
    from aos.errors import StorageError

    class Unrecorded(KernelGate):
        async def record(self, *args: Any, **kwargs: Any) -> None:
            raise StorageError("audit store unavailable: retry")

    mcp_app = app.state.mcp_app
    mcp_app.gate = Unrecorded(mcp_app.gate.kernel)
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "stats", "arguments": {}}}
    r = await api.post("/mcp/agents/scribe", json=body, headers={
        "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"})
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert "audit store unavailable" in r.json()["detail"] and "result" not in r.text
