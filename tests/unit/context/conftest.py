"""Fixtures: a SQLite-backed ContextStore, and the HTTP app under a real uvicorn on a free loopback port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from aos.adapters.embedded.context_sqlite import SqliteContextStore
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.errors import Forbidden, Unauthorized
from aos.ports import ContextStore
from mcp_servers.context import Budget, ContextHttpApp
from tests.contract.test_context_store import DictBlobs

TENANT = "t1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ContextStore]:
    db = SqliteDatabase(tmp_path / "aos.db")
    s = SqliteContextStore(db, DictBlobs())
    await db.start()
    try:
        yield s
    finally:
        await db.close()


async def authorize(header: str | None, agent_id: str) -> str:
    """Test auth: `Bearer agent:<id>` opens only that agent; `Bearer admin` opens any; tenant is t1."""
    if not header or not header.startswith("Bearer "):
        raise Unauthorized("missing bearer token: send Authorization: Bearer <key>")
    token = header.removeprefix("Bearer ")
    if token == "admin" or token == f"agent:{agent_id}":
        return TENANT
    if token.startswith("agent:"):
        raise Forbidden(f"this token opens agent '{token[6:]}' only")
    raise Unauthorized("unknown token")


@pytest.fixture
async def http_url(store: ContextStore) -> AsyncIterator[str]:
    """Base URL of the app (agents under it) served by uvicorn in this event loop, on a pre-bound socket."""
    app = ContextHttpApp(store, authorize, budget=Budget(max_entries=20, max_bytes=1_000_000))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else delayed ACKs add ~40 ms a call
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task
        sock.close()
