"""Context tool round trips (p50/p99) over streamable HTTP and stdio, beside a no-op tool on the same server.

    .venv/bin/python bench/context.py [--sizes 1000,5000,20000] [--calls 200]

At each journal size: `calls` appends, reads (block_read) and searches, plus the same number of no-op calls
(the SDK's own floor on that transport). The journal is grown to each size through the store directly (the
bench measures tool latency, not bulk loading), with a budget large enough that nothing compacts.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aos.adapters.embedded.blobs import FileBlobStore
from aos.adapters.embedded.context_sqlite import SqliteContextStore
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.ports import NewEntry
from mcp_servers.context import Budget, ContextHttpApp

TENANT, AGENT = "bench", "agent-bench"
WORDS = ["invoice", "ticket", "refund", "shipment", "customer", "order", "delay", "payment", "address", "parcel", "warehouse"]


async def grow(data_dir: Path, to: int) -> None:
    db = SqliteDatabase(data_dir / "aos.db")
    store = SqliteContextStore(db, FileBlobStore(data_dir / "blobs"))
    await db.start()
    try:
        have = (await store.stats(f"{TENANT}/{AGENT}")).entries
        batch = []
        for i in range(have, to):
            text = f"{WORDS[i % len(WORDS)]} {i} {WORDS[(i * 7) % len(WORDS)]} note number {i}"
            batch.append(NewEntry("note", text, id=f"g{i}"))
            if len(batch) == 500:
                await store.append(f"{TENANT}/{AGENT}", batch)
                batch = []
        if batch:
            await store.append(f"{TENANT}/{AGENT}", batch)
        if not await store.list_blocks(f"{TENANT}/{AGENT}"):
            await store.put_block(f"{TENANT}/{AGENT}", "persona", "a careful support agent")
    finally:
        await db.close()


async def authorize(header: str | None, agent_id: str) -> str:
    return TENANT


@asynccontextmanager
async def http_client(data_dir: Path) -> AsyncIterator[Client]:
    db = SqliteDatabase(data_dir / "aos.db")
    store = SqliteContextStore(db, FileBlobStore(data_dir / "blobs"))
    await db.start()
    app = ContextHttpApp(store, authorize, budget=Budget(max_entries=10**7, max_bytes=10**10), noop_tool=True)
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else delayed ACKs add ~40 ms a call
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/{AGENT}"
    try:
        async with (
            httpx2.AsyncClient(headers={"Authorization": "Bearer x"}) as http,
            Client(streamable_http_client(url, http_client=http), cache=None) as c,
        ):
            yield c
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        await db.close()


@asynccontextmanager
async def stdio_client(data_dir: Path) -> AsyncIterator[Client]:
    args = ["-m", "mcp_servers.context", "--data-dir", str(data_dir), "--tenant", TENANT, "--agent", AGENT]
    params = StdioServerParameters(command=sys.executable, args=[*args, "--noop-tool"], cwd=str(ROOT))
    async with Client(params, cache=None) as c:
        yield c


async def timed(n: int, call: Callable[[int], Awaitable[object]]) -> tuple[float, float, float]:
    lat = []
    start = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        await call(i)
        lat.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - start
    q = statistics.quantiles(lat, n=100)
    return q[49], q[98], n / wall


async def run(client: Client, n: int, size: int) -> dict[str, tuple[float, float, float]]:
    async def checked(name: str, args: dict[str, object]) -> None:
        r = await client.call_tool(name, args)
        if r.is_error:
            raise RuntimeError(f"{name} failed: {r.content}")

    await checked("noop", {})
    return {
        "noop": await timed(n, lambda i: checked("noop", {})),
        "append": await timed(n, lambda i: checked("journal_append", {"kind": "note", "text": f"bench {size} {i}"})),
        "read": await timed(n, lambda i: checked("block_read", {"label": "persona"})),
        "search": await timed(n, lambda i: checked("search", {"query": f"{WORDS[i % len(WORDS)]} {i}", "limit": 5})),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    print(f"{'transport':9} {'journal':>7} {'tool':7} {'p50 ms':>7} {'p99 ms':>7} {'calls/s':>8} {'p50/noop':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for transport, opener in (("http", http_client), ("stdio", stdio_client)):
            data_dir = Path(tmp) / transport
            for size in (int(s) for s in args.sizes.split(",")):
                await grow(data_dir, size)
                async with opener(data_dir) as client:
                    results = await run(client, args.calls, size)
                floor = results["noop"][0]
                for tool, (p50, p99, rate) in results.items():
                    print(f"{transport:9} {size:7} {tool:7} {p50:7.2f} {p99:7.2f} {rate:8.0f} {p50 / floor:8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
