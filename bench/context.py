"""Context tool round trips (p50/p99) over streamable HTTP and stdio, beside a no-op tool on the same server.

    .venv/bin/python bench/context.py [--sizes 1000,5000,20000] [--calls 200] [--blocks 1000] [--quick]

At each journal size: `calls` appends, reads (block_read) and searches, plus the same number of no-op calls
(the floor of that transport on our server) and, over stdio, of `bench/mcp_bare.py`'s no-op (`sdk-noop`: a bare
SDK server, its own stdio transport and a plain function tool). The context holds `blocks` memory blocks; the
journal is grown to each size through the store directly (the bench measures tool latency, not bulk loading),
with a budget large enough that nothing compacts. `bench/context_reference.py` runs the same workload beside the reference MCP memory server.
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
from contextlib import AsyncExitStack, asynccontextmanager
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
#: Both transports: the journal grows to each size and stays there (a compaction would shrink it).
NO_COMPACTION = Budget(max_entries=10**7, max_bytes=10**10)
WORDS = ["invoice", "ticket", "refund", "shipment", "customer", "order", "delay", "payment", "address", "parcel", "warehouse"]


def note(i: int) -> str:
    """The text of journal entry `i` (the reference bench stores the same text as observations)."""
    return f"{WORDS[i % len(WORDS)]} {i} {WORDS[(i * 7) % len(WORDS)]} note number {i}"


def query(i: int) -> str:
    return f"{WORDS[i % len(WORDS)]} {i}"


async def grow(data_dir: Path, to: int, blocks: int) -> None:
    db = SqliteDatabase(data_dir / "aos.db")
    store = SqliteContextStore(db, FileBlobStore(data_dir / "blobs"))
    await db.start()
    try:
        have = (await store.stats(f"{TENANT}/{AGENT}")).entries
        batch = []
        for i in range(have, to):
            batch.append(NewEntry("note", note(i), id=f"g{i}"))
            if len(batch) == 500:
                await store.append(f"{TENANT}/{AGENT}", batch)
                batch = []
        if batch:
            await store.append(f"{TENANT}/{AGENT}", batch)
        for b in range(len(await store.list_blocks(f"{TENANT}/{AGENT}")), blocks):
            await store.put_block(f"{TENANT}/{AGENT}", f"b{b}", f"block {b}: a careful support agent")
    finally:
        await db.close()


async def authorize(header: str | None, agent_id: str) -> str:
    return TENANT


@asynccontextmanager
async def http_client(data_dir: Path) -> AsyncIterator[Client]:
    db = SqliteDatabase(data_dir / "aos.db")
    store = SqliteContextStore(db, FileBlobStore(data_dir / "blobs"))
    await db.start()
    app = ContextHttpApp(store, authorize, budget=NO_COMPACTION, noop_tool=True)
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
    budget = ["--max-entries", str(NO_COMPACTION.max_entries), "--max-bytes", str(NO_COMPACTION.max_bytes)]
    params = StdioServerParameters(command=sys.executable, args=[*args, *budget, "--noop-tool"], cwd=str(ROOT))
    async with Client(params, cache=None) as c:
        yield c


@asynccontextmanager
async def bare_client() -> AsyncIterator[Client]:
    params = StdioServerParameters(command=sys.executable, args=[str(ROOT / "bench" / "mcp_bare.py")], cwd=str(ROOT))
    async with Client(params, cache=None) as c:
        yield c


Call = Callable[[int], Awaitable[object]]


async def timed(n: int, calls: dict[str, Call], chunk: int = 20) -> dict[str, tuple[float, float, float]]:
    """p50 ms, p99 ms and calls/s (1 / mean latency) of each tool: `chunk` calls of one, then of the next...

    Why in turns: on a shared machine the load changes from one second to the next; taking turns exposes every
    tool to the same load, so their ratios hold while the absolute figures drift. Why chunks, not one call
    each: work a call leaves behind (a WAL checkpoint, a GC pass) then lands on calls of the same tool.
    """
    lat: dict[str, list[float]] = {name: [] for name in calls}
    for start in range(0, n, chunk):
        for name, call in calls.items():
            for i in range(start, min(start + chunk, n)):
                t = time.perf_counter()
                await call(i)
                lat[name].append((time.perf_counter() - t) * 1000)
    out = {}
    for name, ms in lat.items():
        q = statistics.quantiles(ms, n=100)
        out[name] = (q[49], q[98], 1000 / statistics.fmean(ms))
    return out


def tools(client: Client, size: int, blocks: int) -> dict[str, Call]:
    """The timed calls: a no-op (the transport's floor), then the context tools."""

    async def checked(name: str, args: dict[str, object]) -> None:
        r = await client.call_tool(name, args)
        if r.is_error:
            raise RuntimeError(f"{name} failed: {r.content}")

    return {
        "noop": lambda i: checked("noop", {}),
        "append": lambda i: checked("journal_append", {"kind": "note", "text": f"bench {size} {i}"}),
        "read": lambda i: checked("block_read", {"label": f"b{i % blocks}"}),
        "search": lambda i: checked("search", {"query": query(i), "limit": 5}),
    }


async def warm(client: Client) -> None:
    """One call of each tool first: a first call pays for imports and caches, not for the tool."""
    await client.call_tool("noop", {})
    await client.call_tool("journal_append", {"kind": "note", "text": "warm", "id": "warm"})
    await client.call_tool("block_read", {"label": "b0"})
    await client.call_tool("search", {"query": "warm", "limit": 5})


async def run(
    client: Client, n: int, size: int, blocks: int, bare: Client | None = None
) -> dict[str, tuple[float, float, float]]:
    """The tools in turns; with `bare` (a bare SDK server), its no-op too, as `sdk-noop`."""
    await warm(client)
    calls = tools(client, size, blocks)
    if bare is not None:
        await bare.call_tool("noop", {})

        async def sdk_noop(i: int) -> None:
            if (await bare.call_tool("noop", {})).is_error:
                raise RuntimeError("the bare server's noop failed")

        calls = {"noop": calls["noop"], "sdk-noop": sdk_noop} | calls
    return await timed(n, calls)


def parse_args() -> argparse.Namespace:
    """The workload options, shared with `context_reference.py` (same workload, beside the reference server)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, few calls")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.calls, args.blocks = "100,300", 20, 20
    return args


async def main() -> None:
    args = parse_args()
    print(f"{'transport':9} {'journal':>7} {'tool':8} {'p50 ms':>7} {'p99 ms':>7} {'calls/s':>8} {'p50/noop':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for transport, opener in (("http", http_client), ("stdio", stdio_client)):
            data_dir = Path(tmp) / transport
            for size in (int(s) for s in args.sizes.split(",")):
                await grow(data_dir, size, args.blocks)
                async with opener(data_dir) as client, AsyncExitStack() as stack:
                    bare = await stack.enter_async_context(bare_client()) if transport == "stdio" else None
                    results = await run(client, args.calls, size, args.blocks, bare)
                floor = results["noop"][0]
                for tool, (p50, p99, rate) in results.items():
                    print(f"{transport:9} {size:7} {tool:8} {p50:7.2f} {p99:7.2f} {rate:8.0f} {p50 / floor:8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
