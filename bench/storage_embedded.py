"""Throughput of the embedded SQLite store under many concurrent callers (group commit).

Run: `.venv/bin/python bench/storage_embedded.py [--events 20000] [--agents 1000] [--callers 256]`

Prints ops/s for:
- deliver: `Mailbox.deliver` of one event to one agent, from `--callers` concurrent tasks;
- step cycle: `begin_step` + `record_decision` + `complete_step` with one event per step, one worker task per
  agent (steps are serialized per agent, as the kernel does);
- end to end: one event's four mailbox operations (deliver, begin, decide, complete) interleaved, giving the
  events/s ceiling the storage puts on the kernel (target: >= 5,000 events/s).
Each line also shows commits and the mean batch size, which is what group commit buys.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aos.adapters.embedded import SqliteDatabase, SqliteMailbox, SystemClock
from aos.model import Decision, Event, NoteEffect


def _event(i: int) -> Event:
    return Event(id=f"ev-{i}", source="/bench", type="bench.tick", data={"i": i, "text": "x" * 200})


DECISION = Decision(effects=[NoteEffect(text="seen")], summary="bench")


class Meter:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        self.commits = db.commits
        self.ops = db.operations
        self.started = time.perf_counter()

    def report(self, label: str, count: int, unit: str) -> float:
        elapsed = time.perf_counter() - self.started
        commits = self.db.commits - self.commits
        ops = self.db.operations - self.ops
        rate = count / elapsed
        batch = ops / commits if commits else 0.0
        print(
            f"{label:<34} {count:>8} {unit:<7} in {elapsed:6.2f}s  {rate:>9,.0f} {unit}/s"
            f"  ({ops / elapsed:>9,.0f} ops/s, {commits} commits, {batch:.0f} ops/commit)"
        )
        return rate


async def _deliver_all(mailbox: SqliteMailbox, start: int, count: int, agents: int, callers: int) -> None:
    async def caller(offset: int) -> None:
        for i in range(start + offset, start + count, callers):
            await mailbox.deliver("bench", _event(i), [f"bench/agent-{i % agents}"])

    await asyncio.gather(*(caller(c) for c in range(callers)))


async def _drain(mailbox: SqliteMailbox, agents: int, max_events: int) -> int:
    async def worker(n: int) -> int:
        key, steps = f"bench/agent-{n}", 0
        while (claim := await mailbox.begin_step(key, f"agent-{n}", max_events)) is not None:
            await mailbox.record_decision(key, claim.seq, DECISION)
            await mailbox.complete_step(key, claim.seq)
            steps += 1
        return steps

    return sum(await asyncio.gather(*(worker(n) for n in range(agents))))


async def _end_to_end(mailbox: SqliteMailbox, start: int, count: int, agents: int) -> None:
    """One task per agent: deliver its next event, then run the step that consumes it."""

    async def agent(n: int) -> None:
        key = f"bench/agent-{n}"
        for i in range(start + n, start + count, agents):
            await mailbox.deliver("bench", _event(i), [key])
            claim = await mailbox.begin_step(key, f"agent-{n}", 32)
            assert claim is not None
            await mailbox.record_decision(key, claim.seq, DECISION)
            await mailbox.complete_step(key, claim.seq)

    await asyncio.gather(*(agent(n) for n in range(agents)))


async def main(events: int, agents: int, callers: int, synchronous: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = SqliteDatabase(Path(tmp) / "aos.db", synchronous=synchronous)
        mailbox = SqliteMailbox(db, SystemClock())
        await db.start()
        try:
            print(
                f"SQLite synchronous={synchronous}, {agents} agents, {callers} concurrent deliver callers\n"
            )
            m = Meter(db)
            await _deliver_all(mailbox, 0, events, agents, callers)
            m.report("deliver", events, "events")

            m = Meter(db)
            steps = await _drain(mailbox, agents, 1)
            m.report("step cycle (1 event/step)", steps, "cycles")

            await _deliver_all(mailbox, events, events, agents, callers)
            m = Meter(db)
            steps = await _drain(mailbox, agents, 32)
            m.report("step cycle (up to 32 events/step)", events, "events")

            m = Meter(db)
            await _end_to_end(mailbox, 2 * events, events, agents)
            m.report("end to end (4 ops per event)", events, "events")
        finally:
            await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--callers", type=int, default=256)
    parser.add_argument("--synchronous", choices=["NORMAL", "FULL"], default="NORMAL")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.agents, args.callers, args.synchronous))
