"""Mailbox throughput per storage adapter, beside the raw SDK doing the same calls on the same emulator.

    .venv/bin/python bench/storage.py [--events 300] [--batch 10] [--rounds 3] [--cosmos-endpoint URL]

One function pair per adapter (`cosmos_aos` / `cosmos_raw`; other adapters add theirs to `ADAPTERS`). Each run:
`events` events delivered to one agent (`Mailbox.deliver`), then steps of up to `batch` events claimed and
acknowledged (`begin_step` + `complete_step`) until the mailbox is empty. The raw run issues the same SDK calls
with the same documents straight through `azure.cosmos.aio`, so the difference is what AOS adds (models,
validation, error mapping, the retry/timeout wrapper). Runs alternate raw/AOS on fresh databases; the median
of `rounds` is reported. Without `--cosmos-endpoint`, the pinned emulator is started from node_modules.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from azure.cosmos import PartitionKey
from azure.cosmos.aio import CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError

from aos.adapters.azure.cosmos import CosmosMailbox, open_cosmos
from aos.adapters.azure.names import COSMOS_CONTAINERS
from aos.adapters.embedded import SystemClock
from aos.model import Event

KEY = "bench/agent-a"
EMULATOR_KEY = "QU9TLWNvc21vcy1lbXVsYXRvci1rZXk="


def events(n: int) -> list[Event]:
    return [Event(id=f"ev-{i}-{uuid.uuid4().hex[:6]}", source="/bench", type="bench.tick", data={"i": i})
            for i in range(n)]


# ---------------------------------------------------------------- cosmos


async def cosmos_aos(endpoint: str, evs: list[Event], batch: int) -> float:
    db = f"b{uuid.uuid4().hex[:12]}"
    cosmos = await open_cosmos(endpoint, db, key=EMULATOR_KEY, emulator=True, create_containers=True)
    try:
        mailbox = CosmosMailbox(cosmos, SystemClock())
        t0 = time.perf_counter()
        for ev in evs:
            await mailbox.deliver("bench", ev, [KEY])
        while (claim := await mailbox.begin_step(KEY, "agent-a", batch)) is not None:
            await mailbox.complete_step(KEY, claim.seq)
        return time.perf_counter() - t0
    finally:
        await cosmos.api.drop_database()  # type: ignore[attr-defined]
        await cosmos.close()


async def cosmos_raw(endpoint: str, evs: list[Event], batch: int) -> float:
    """The same SDK calls as the adapter (see aos/adapters/azure/cosmos/mailbox.py), written inline."""
    client = CosmosClient(endpoint, credential=EMULATOR_KEY, enable_endpoint_discovery=False, retry_throttle_total=0)
    db = await client.create_database_if_not_exists(f"b{uuid.uuid4().hex[:12]}")
    for name, path in COSMOS_CONTAINERS.items():
        await db.create_container_if_not_exists(name, partition_key=PartitionKey(path))
    c = db.get_container_client("runtime")
    from azure.core import MatchConditions

    try:
        t0 = time.perf_counter()
        for ev in evs:
            h = hashlib.sha256(ev.id.encode()).hexdigest()
            try:
                await c.read_item("ev-" + h, partition_key="bench/~events")
            except CosmosHttpResponseError:
                pass
            try:
                pos = (await c.patch_item("~counter", partition_key="bench/~events",
                                          patch_operations=[{"op": "incr", "path": "/next", "value": 1}]))["next"]
            except CosmosHttpResponseError:
                pos = 1
                await c.create_item({"id": "~counter", "agentKey": "bench/~events", "kind": "counter", "next": 1})
            body = ev.model_dump(mode="json")
            await c.create_item({"id": "m-" + h, "agentKey": KEY, "kind": "msg", "eid": ev.id, "pos": pos,
                                 "status": "pending", "event": body})
            await c.create_item({"id": "ev-" + h, "agentKey": "bench/~events", "kind": "log", "eid": ev.id,
                                 "etype": ev.type, "pos": pos, "event": body, "deliveredTo": [KEY],
                                 "acceptedAt": "2030-01-01T00:00:00+00:00"})
        seq = 0
        while True:
            p = [{"name": "@pk", "value": KEY}]
            latest = [d async for d in c.query_items(
                "SELECT TOP 1 * FROM c WHERE c.agentKey = @pk AND c.kind = 'step' ORDER BY c.seq DESC",
                parameters=p, partition_key=KEY)]
            pending = [d async for d in c.query_items(
                "SELECT TOP @n c.eid FROM c WHERE c.agentKey = @pk AND c.kind = 'msg' AND c.status = 'pending' "
                "ORDER BY c.pos", parameters=p + [{"name": "@n", "value": batch}], partition_key=KEY)]
            if not pending:
                break
            seq = latest[0]["seq"] + 1 if latest else 1
            ids = [x["eid"] for x in pending]
            await c.create_item({"id": f"s-{seq:012d}", "agentKey": KEY, "kind": "step", "seq": seq,
                                 "agentId": "agent-a", "status": "claimed", "eventIds": ids, "decision": None,
                                 "attempts": 1, "error": None, "startedAt": "2030-01-01T00:00:00+00:00",
                                 "finishedAt": None})
            _ = [Event.model_validate(d["event"]) async for d in c.query_items(
                "SELECT c.eid, c.event FROM c WHERE c.agentKey = @pk AND c.kind = 'msg' AND ARRAY_CONTAINS(@ids, c.eid)",
                parameters=p + [{"name": "@ids", "value": ids}], partition_key=KEY)]
            step = await c.read_item(f"s-{seq:012d}", partition_key=KEY)
            for eid in ids:
                await c.patch_item("m-" + hashlib.sha256(eid.encode()).hexdigest(), partition_key=KEY,
                                   patch_operations=[{"op": "set", "path": "/status", "value": "done"}])
            step.update(status="done", finishedAt="2030-01-01T00:00:01+00:00")
            await c.replace_item(step["id"], {k: v for k, v in step.items() if not k.startswith("_")},
                                 etag=step["_etag"], match_condition=MatchConditions.IfNotModified)
        return time.perf_counter() - t0
    finally:
        await client.delete_database(db.id)
        await client.close()


Runner = Callable[[str, list[Event], int], Awaitable[float]]
#: adapter name -> (AOS run, raw SDK run). Add other adapters (Azurite) as further entries.
ADAPTERS: dict[str, tuple[Runner, Runner]] = {"cosmos": (cosmos_aos, cosmos_raw)}


def start_cosmos_emulator() -> tuple[subprocess.Popen[bytes], str]:
    exe = ROOT / "node_modules" / ".bin" / "cosmosdb-server"
    proc = subprocess.Popen([str(exe), "--no-ssl", "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the server's first line is its Ready line
    m = re.search(rb":(\d+)\s*$", line)
    if not m:
        proc.kill()
        raise SystemExit(f"cosmosdb-server did not start: {line!r} (run `npm ci`)")
    return proc, f"http://127.0.0.1:{int(m.group(1))}"


async def measure(endpoint: str, args: argparse.Namespace) -> None:
    for name, (aos_run, raw_run) in ADAPTERS.items():
        raw_t: list[float] = []
        aos_t: list[float] = []
        await raw_run(endpoint, events(20), args.batch)  # warm up the connection pool and the server
        for _ in range(args.rounds):
            raw_t.append(await raw_run(endpoint, events(args.events), args.batch))
            aos_t.append(await aos_run(endpoint, events(args.events), args.batch))
        raw, aos = statistics.median(raw_t), statistics.median(aos_t)
        print(f"{name}: {args.events} events, steps of {args.batch}, median of {args.rounds}")
        print(f"  raw SDK : {args.events / raw:8.1f} events/s  ({raw * 1000 / args.events:.2f} ms/event)")
        print(f"  AOS     : {args.events / aos:8.1f} events/s  ({aos * 1000 / args.events:.2f} ms/event)")
        print(f"  AOS overhead: {(aos - raw) / raw * 100:+.1f}% (target <= 10%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cosmos-endpoint", default=None, help="an emulator already running (http://HOST:PORT)")
    args = parser.parse_args()
    proc = None
    endpoint = args.cosmos_endpoint
    if endpoint is None:
        proc, endpoint = start_cosmos_emulator()
    try:
        asyncio.run(measure(endpoint, args))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


if __name__ == "__main__":
    main()
