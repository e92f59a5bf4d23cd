"""The context server beside the reference MCP memory server, both over stdio, on an equivalent workload.

    .venv/bin/python bench/context_reference.py [--sizes 1000,5000,20000] [--calls 200] [--blocks 1000] [--quick]

The reference is `@modelcontextprotocol/server-memory` (`npm ci` installs it), a knowledge graph kept in one
JSON-lines file (`MEMORY_FILE_PATH`, a temp file here). The workload maps one to one:

| ours (ContextMCPServer)             | reference (server-memory)                        |
| ----------------------------------- | ------------------------------------------------ |
| `blocks` memory blocks `b0`, `b1`…  | `blocks` entities `b0`, `b1`…                    |
| journal entries (grown to `size`)   | observations spread over the entities            |
| `journal_append` one entry          | `add_observations` one observation to one entity |
| `block_read` one block              | `open_nodes` one entity                          |
| `search` "invoice 17", limit 5      | `search_nodes` "invoice 17"                      |

Both sides are grown to each size outside the timed calls (ours through the store, the reference through
`add_observations` batches of 500), then each tool is called `calls` times, one call in flight, by the same
Python MCP client, in turn (append, read, search, append, ...: see `bench.timed`). Throughput is calls/s of that
closed loop, 1 / mean latency.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

sys.path.insert(0, str(Path(__file__).resolve().parent))

import context as bench

REFERENCE = bench.ROOT / "node_modules" / "@modelcontextprotocol" / "server-memory" / "dist" / "index.js"
#: Targets at the largest size: ours ÷ reference throughput.
TARGETS = {"append": 3.0, "search": 20.0}
Figures = dict[str, tuple[float, float, float]]


@asynccontextmanager
async def reference_client(memory_file: Path) -> AsyncIterator[Client]:
    if not REFERENCE.exists():
        raise SystemExit(f"reference server missing at {REFERENCE}: run `npm ci` in {bench.ROOT}")
    params = StdioServerParameters(
        command="node", args=[str(REFERENCE)], env={"MEMORY_FILE_PATH": str(memory_file)}, cwd=str(bench.ROOT)
    )
    with open(os.devnull, "w") as quiet:  # noqa: ASYNC230 - /dev/null; the server announces itself on stderr
        async with Client(stdio_client(params, errlog=quiet), cache=None) as c:
            yield c


async def call(client: Client, name: str, args: dict[str, Any]) -> None:
    r = await client.call_tool(name, args)
    if r.is_error:
        raise RuntimeError(f"{name} failed: {r.content}")


async def grow_reference(client: Client, have: int, to: int, blocks: int) -> None:
    if have == 0:
        entities = [{"name": f"b{b}", "entityType": "block", "observations": []} for b in range(blocks)]
        await call(client, "create_entities", {"entities": entities})
    for start in range(have, to, 500):
        by_entity: dict[str, list[str]] = {}
        for i in range(start, min(start + 500, to)):
            by_entity.setdefault(f"b{i % blocks}", []).append(bench.note(i))
        batch = [{"entityName": name, "contents": contents} for name, contents in by_entity.items()]
        await call(client, "add_observations", {"observations": batch})


def reference_tools(client: Client, size: int, blocks: int) -> dict[str, bench.Call]:
    def append(i: int) -> Any:
        obs = [{"entityName": f"b{i % blocks}", "contents": [f"bench {size} {i}"]}]
        return call(client, "add_observations", {"observations": obs})

    return {
        "append": append,
        "read": lambda i: call(client, "open_nodes", {"names": [f"b{i % blocks}"]}),
        "search": lambda i: call(client, "search_nodes", {"query": bench.query(i)}),
    }


async def measure(sizes: list[int], calls: int, blocks: int) -> list[tuple[int, Figures, Figures]]:
    """Both servers run side by side and are called in turn (ours, then the reference, tool by tool), so a
    change in the machine's load hits both sides alike."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, memory_file = Path(tmp) / "ours", Path(tmp) / "memory.jsonl"
        have = 0
        for size in sizes:
            await bench.grow(data_dir, size, blocks)
            async with bench.stdio_client(data_dir) as c, reference_client(memory_file) as ref_client:
                await grow_reference(ref_client, have, size, blocks)
                await bench.warm(c)
                await call(ref_client, "open_nodes", {"names": ["b0"]})
                await call(ref_client, "search_nodes", {"query": "warm"})
                ours, ref = bench.tools(c, size, blocks), reference_tools(ref_client, size, blocks)
                turns = {"ours noop": ours["noop"]}
                for tool in ("append", "read", "search"):
                    turns |= {f"ours {tool}": ours[tool], f"ref {tool}": ref[tool]}
                figures = await bench.timed(calls, turns)
            have = size + calls  # the timed appends stay in the reference's file too
            split = {
                side: {k.split()[1]: v for k, v in figures.items() if k.startswith(side)}
                for side in ("ours", "ref")
            }
            out.append((size, split["ours"], split["ref"]))
    return out


def report(results: list[tuple[int, Figures, Figures]]) -> None:
    """Print both sides, then each target at the largest size with its verdict."""
    head = f"{'entries':>7} {'tool':7} {'ours p50':>8} {'p99':>7} {'calls/s':>8}   {'ref p50':>8} {'p99':>7}"
    print(head + f" {'calls/s':>8}   {'ours/ref':>8}")
    for size, ours, ref in results:
        for tool in ("append", "read", "search"):
            (p50, p99, rate), (rp50, rp99, rrate) = ours[tool], ref[tool]
            print(
                f"{size:7} {tool:7} {p50:8.2f} {p99:7.2f} {rate:8.0f}   {rp50:8.2f} {rp99:7.2f} {rrate:8.0f}"
                f"   {rate / rrate:7.1f}×"
            )
        noop = ours["noop"][0]
        print(f"{size:7} {'noop':7} {noop:8.2f} {ours['noop'][1]:7.2f} {ours['noop'][2]:8.0f}   (ours only)")
        print(f"{'':7} append p50 / noop p50 = {ours['append'][0] / noop:.2f}  (target ≤ 1.3)")
    size, ours, ref = results[-1]
    for tool, target in TARGETS.items():
        ratio = ours[tool][2] / ref[tool][2]
        verdict = "ok" if ratio >= target else "MISS"
        print(
            f"at {size} entries: {tool} throughput {ratio:.1f}× the reference (target ≥ {target:g}×): {verdict}"
        )


async def main() -> None:
    args = bench.parse_args()
    results = await measure([int(s) for s in args.sizes.split(",")], args.calls, args.blocks)
    report(results)


if __name__ == "__main__":
    asyncio.run(main())
