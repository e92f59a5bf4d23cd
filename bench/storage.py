"""Throughput per storage adapter, beside the raw SDK doing the same calls on the same emulator.

    .venv/bin/python bench/storage.py [--events 300] [--batch 10] [--rounds 3] [--only cosmos,blob,table,queue]
                                      [--cosmos-endpoint URL] [--azurite-connection-string CS] [--quick]

One function pair per adapter (`ADAPTERS`: Cosmos mailbox here; Blob, Table registry/state and Storage Queue on
Azurite in `bench/storage_azurite.py`, which describes their units). `--quick` is a smoke run (30 units, one
round; `tests/bench/test_storage_smoke.py` runs it): its figures are too small to read. Cosmos mailbox run:
`events` events delivered to one agent (`Mailbox.deliver`), then steps of up to `batch` events claimed and
acknowledged (`begin_step` + `complete_step`) until the mailbox is empty. The raw run issues the same SDK calls
with the same documents straight through `azure.cosmos.aio`, so the difference is what AOS adds (models,
validation, error mapping, the retry/timeout wrapper). Runs alternate raw/AOS on fresh databases (containers,
tables, queues); the median of `rounds` is reported. Without `--cosmos-endpoint` / `--azurite-connection-string`,
the pinned emulators are started from node_modules (Azurite in memory, on free ports).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from azure.cosmos import PartitionKey
from azure.cosmos.aio import CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError

from aos.adapters.azure.cosmos import CosmosMailbox, open_cosmos
from aos.adapters.azure.names import COSMOS_CONTAINERS
from aos.adapters.embedded import SystemClock
from aos.model import Event

sys.path.insert(0, str(ROOT / "bench"))
import storage_azurite as az  # a sibling script module, found through the path set above

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
#: adapter name -> (emulator it runs on, AOS run, raw SDK run, what one unit is). Runners get the emulator's
#: endpoint (Cosmos) or connection string (Azurite).
ADAPTERS: dict[str, tuple[str, Runner, Runner, str]] = {
    "cosmos": ("cosmos", cosmos_aos, cosmos_raw, "events (mailbox deliver, then claim + ack in steps)"),
    "blob": ("azurite", az.blob_aos, az.blob_raw, "blobs (put, then get + SHA-256 check)"),
    "table": ("azurite", az.table_aos, az.table_raw,
              "agents (registry create + get + CAS update, state put + CAS put)"),
    "queue": ("azurite", az.queue_aos, az.queue_raw, "events (send, receive x32, complete)"),
}


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


async def measure(targets: dict[str, str], args: argparse.Namespace) -> list[str]:
    """Print each adapter's figures; return the adapters over the 10 % overhead target."""
    over: list[str] = []
    for name in args.only:
        emulator, aos_run, raw_run, unit = ADAPTERS[name]
        target = targets[emulator]
        raw_t: list[float] = []
        aos_t: list[float] = []
        await raw_run(target, events(20), args.batch)  # warm up the connection pool and the server
        await aos_run(target, events(20), args.batch)
        for _ in range(args.rounds):
            raw_t.append(await raw_run(target, events(args.events), args.batch))
            aos_t.append(await aos_run(target, events(args.events), args.batch))
        raw, aos = statistics.median(raw_t), statistics.median(aos_t)
        overhead = (aos - raw) / raw * 100
        print(f"{name}: {args.events} {unit}, median of {args.rounds}")
        print(f"  raw SDK : {args.events / raw:8.1f} units/s  ({raw * 1000 / args.events:.2f} ms/unit)")
        print(f"  AOS     : {args.events / aos:8.1f} units/s  ({aos * 1000 / args.events:.2f} ms/unit)")
        print(f"  AOS overhead: {overhead:+.1f}% (target <= 10%){'' if overhead <= 10 else '  -- over target'}")
        if overhead > 10:
            over.append(name)
    return over


async def run(args: argparse.Namespace) -> list[str]:
    from aos.adapters.azure.factory.emulators import azurite_connection_string, ensure_azurite, free_port

    targets: dict[str, str] = {}
    stops: list[Any] = []
    need = {ADAPTERS[n][0] for n in args.only}
    try:
        if "cosmos" in need:
            if args.cosmos_endpoint is None:
                proc, targets["cosmos"] = start_cosmos_emulator()
                stops.append(proc)
            else:
                targets["cosmos"] = args.cosmos_endpoint
        if "azurite" in need:
            if args.azurite_connection_string is None:
                ports = (free_port(), free_port(), free_port())
                emulator = await ensure_azurite(Path(tempfile.mkdtemp(prefix="aos-bench-")), ports, in_memory=True)
                stops.append(emulator)
                targets["azurite"] = azurite_connection_string(ports)
            else:
                targets["azurite"] = args.azurite_connection_string
        return await measure(targets, args)
    finally:
        for stop in stops:
            if isinstance(stop, subprocess.Popen):
                stop.terminate()
                stop.wait(timeout=10)
                if stop.stdout is not None:
                    stop.stdout.close()
            else:
                await stop.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="units per run")
    parser.add_argument("--batch", type=int, default=10, help="events per step (Cosmos mailbox)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(ADAPTERS), help="comma-separated: " + ",".join(ADAPTERS))
    parser.add_argument("--cosmos-endpoint", default=None, help="an emulator already running (http://HOST:PORT)")
    parser.add_argument("--azurite-connection-string", default=None, help="an Azurite already running")
    parser.add_argument("--quick", action="store_true", help="smoke run: 30 units, one round")
    args = parser.parse_args()
    args.only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in args.only if n not in ADAPTERS]
    if unknown:
        parser.error(f"unknown adapters {unknown}; choose from {', '.join(ADAPTERS)}")
    if args.quick:
        args.events, args.rounds = 30, 1
    over = asyncio.run(run(args))
    if over and not args.quick:
        print(f"over the 10% overhead target: {', '.join(over)}")


if __name__ == "__main__":
    main()
