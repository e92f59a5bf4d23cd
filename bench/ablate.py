"""Where a one-event step's time goes: phase 2 of `wakes.py` (open loop, one event per step) on four set-ups.

    .venv/bin/python bench/ablate.py                        # 1,000 events/s, 8 s, 2 rounds (~2.5 minutes)
    .venv/bin/python bench/ablate.py --rate 700 --rounds 3
    .venv/bin/python bench/ablate.py --quick                # smoke run, a few seconds a set-up

The set-ups, each in a fresh child process (same agents, brain, warm-up and publisher as `wakes.py`):

- `sqlite`: as shipped (the embedded backend: SQLite WAL, durable against a process crash);
- `sqlite-core`: the same without the two features every step also pays for, the agent's context journal (the
  ContextMCPServer entry) and governance (budget check, policy review, audit record, usage);
- `memory`: everything, on the in-memory backend (nothing persisted, so no SQLite and no disk);
- `memory-core`: the in-memory backend without context journal and governance.

The `-core` set-ups are diagnostics, not a way to run AOS: they switch the kernel's context provider and governor
off after `System.open`. They answer "what would the p99 target need": which part of a step's CPU the storage,
the context journal and governance each take, and whether the kernel's own path carries the rate. Set-ups run
round-robin, so each round compares them back to back on a shared machine whose speed moves.

Per set-up and round: CPU per event (the process's, during the open loop), p50/p99/max latency from each event's
scheduled send time to the brain seeing it, and commits per event (SQLite). Exit status 1 when an event was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # wakes, wakes_brain
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # aos, when run as a script

import wakes

SETUPS = ("sqlite", "sqlite-core", "memory", "memory-core")


async def one(setup: str, agents: int, rate: float, seconds: float, warm: int) -> dict[str, float]:
    """Child process: one set-up, one open-loop run; prints its figures as JSON."""
    from aos.runtime import System, settle_heap

    with tempfile.TemporaryDirectory() as tmp:
        config = wakes.bench_config(Path(tmp), None)
        if setup.startswith("memory"):
            config = replace(config, backend="memory")  # type: ignore[type-var]
        async with System.open(config) as system:  # type: ignore[arg-type]
            settle_heap()
            wakes.quiet_lag_warnings()
            kernel = system.kernel
            if setup.endswith("-core"):
                kernel.context = None  # diagnostics only: no context journal entry per step
                kernel.governance = None  # nor budget check, policy review, audit record and usage
            tracker = wakes.Tracker(kernel)
            await wakes.register_agents(kernel, agents)
            await wakes.throughput(system, tracker, agents, warm, 32, prefix="w")  # warm caches and the store
            db = getattr(system.stores.mailbox, "_db", None)  # bench-only peek at the SQLite adapter
            commits0 = db.commits if db is not None else 0
            cpu0 = time.process_time()
            o = await wakes.open_loop(system, tracker, agents, rate, seconds)
            cpu = time.process_time() - cpu0
            return {"events": o["events"], "seen": o["seen"], "cpu_us": cpu / o["events"] * 1e6,
                    "p50_ms": o["p50_ms"], "p99_ms": o["p99_ms"], "max_ms": o["max_ms"],
                    "commits": ((db.commits - commits0) / o["events"]) if db is not None else 0.0}


def run_child(setup: str, args: argparse.Namespace) -> dict[str, float]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--one", setup, "--agents", str(args.agents),
            "--rate", str(args.rate), "--seconds", str(args.seconds), "--warm", str(args.warm)]
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"set-up {setup} failed ({out.returncode}):\n{out.stderr}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=int, default=1_000, help="agents with a no-op brain")
    p.add_argument("--rate", type=float, default=1_000.0, help="open-loop rate (events/s)")
    p.add_argument("--seconds", type=float, default=8.0, help="duration of each open-loop run")
    p.add_argument("--warm", type=int, default=3_000, help="events published as fast as possible first")
    p.add_argument("--rounds", type=int, default=2, help="rounds over the four set-ups")
    p.add_argument("--setups", default=",".join(SETUPS), help="comma-separated subset of " + ", ".join(SETUPS))
    p.add_argument("--quick", action="store_true", help="smoke run with small numbers")
    p.add_argument("--one", choices=SETUPS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.agents, args.rate, args.seconds, args.warm, args.rounds = 50, 200.0, 1.0, 200, 1
    args.setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    unknown = [s for s in args.setups if s not in SETUPS]
    if unknown:
        p.error(f"unknown set-up(s) {', '.join(unknown)}; choose from {', '.join(SETUPS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.one:
        print(json.dumps(asyncio.run(one(args.one, args.agents, args.rate, args.seconds, args.warm))), flush=True)
        return 0
    print(f"host speed {wakes.host_speed_ms():.0f} ms | open loop at {args.rate:,.0f} events/s for "
          f"{args.seconds:.0f}s, {args.agents:,} agents, one event per step")
    print(f"{'round':>5}  {'set-up':<12} {'CPU/event (µs)':>14} {'p50 (ms)':>9} {'p99 (ms)':>9} {'max (ms)':>9} "
          f"{'commits/event':>13}")
    lost = False
    for r in range(1, args.rounds + 1):
        for setup in args.setups:
            f = run_child(setup, args)
            lost = lost or f["seen"] != f["events"]
            print(f"{r:>5}  {setup:<12} {f['cpu_us']:>14,.0f} {f['p50_ms']:>9.1f} {f['p99_ms']:>9.1f} "
                  f"{f['max_ms']:>9.1f} {f['commits']:>13.2f}" + ("  LOST EVENTS" if f["seen"] != f["events"] else ""),
                  flush=True)
    print(f"host speed {wakes.host_speed_ms():.0f} ms")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
