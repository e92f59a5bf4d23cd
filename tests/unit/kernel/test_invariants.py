"""The invariants of DESIGN.md, each with a test that fails if it breaks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aos.adapters.embedded import ManualClock, open_sqlite
from aos.brains import Brains
from aos.config import Config
from aos.kernel import Kernel, NoNotifier
from aos.model import StepStatus
from aos.ports import Stores
from aos.runtime import EmbeddedRuntime, ReadyQueue
from tests.unit.kernel import brains_for_tests

from .conftest import TENANT, drain, event, spec

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[3]


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in AOS may catch it."""


def crash_at(point: str):  # type: ignore[no-untyped-def]
    async def hook(where: str) -> None:
        if where == point:
            raise Crash(where)

    return hook


# ---------------------------------------------------------------- 2. effects happen once


@pytest.mark.parametrize("point", ["decided", "applied"])
async def test_a_step_killed_after_journaling_is_resumed_without_asking_the_brain_again(
    tmp_path: Path, point: str
) -> None:
    stores = await open_sqlite(tmp_path, clock=ManualClock())
    brains = Brains(Config())
    kernel = Kernel(stores, brains, notifier=NoNotifier())
    await kernel.register(TENANT, spec("alpha", entry="forward", subscriptions=[{"type": "*"}]))
    await kernel.register(TENANT, spec("sink"))
    await kernel.publish(TENANT, event(data={"n": 1}))
    await kernel.publish(TENANT, event(data={"n": 2}))

    kernel.fault = crash_at(point)
    with pytest.raises(Crash):
        await kernel.run_step(f"{TENANT}/alpha")
    assert brains_for_tests.CALLS["alpha"] == 1
    await stores.close()  # the process is gone; reopen from disk

    stores = await open_sqlite(tmp_path, clock=ManualClock())
    restarted = Kernel(stores, brains, notifier=NoNotifier())
    assert f"{TENANT}/alpha" in await stores.mailbox.keys_with_work()
    outcome = await restarted.run_step(f"{TENANT}/alpha")
    assert outcome is not None and outcome.status == "done" and outcome.attempts == 2
    assert brains_for_tests.CALLS["alpha"] == 1, "the model/brain was asked twice"
    assert await stores.mailbox.pending(f"{TENANT}/sink") == 2, "messages duplicated or lost"
    assert (await stores.state.get(f"{TENANT}/alpha"))[0] == {"seen": 2}
    assert await drain(restarted, f"{TENANT}/alpha") == 0
    steps = await stores.mailbox.steps(f"{TENANT}/alpha")
    assert [s.status for s in steps] == [StepStatus.DONE]
    await stores.close()
    await brains.aclose()


# ---------------------------------------------------------------- 1. nothing accepted is lost


async def test_a_dropped_notification_is_recovered_by_the_sweep(kernel: Kernel) -> None:
    await kernel.register(TENANT, spec("alpha", subscriptions=[{"type": "*"}]))
    await kernel.publish(TENANT, event())
    kernel.notifier.notified.clear()  # type: ignore[attr-defined]  # the notification is lost
    assert await kernel.sweep() == [f"{TENANT}/alpha"]
    assert await drain(kernel, f"{TENANT}/alpha") == 1
    assert await kernel.sweep() == []


CHILD = textwrap.dedent("""
    import asyncio, os, sys
    from aos.adapters.embedded import open_sqlite
    from aos.brains import Brains
    from aos.config import Config
    from aos.kernel import Kernel, NoNotifier
    from aos.model import AgentSpec, Event

    async def main():
        stores = await open_sqlite(sys.argv[1])
        kernel = Kernel(stores, Brains(Config()), notifier=NoNotifier())
        await kernel.register("acme", AgentSpec.model_validate({"id": "alpha", "subscriptions": [{"type": "*"}],
            "brain": {"kind": "python", "settings": {"entrypoint": "tests.unit.kernel.brains_for_tests:noop"}}}))
        for i in range(20):
            await kernel.publish("acme", Event(id=f"e{i}", source="child", type="t"))
        print("published", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
""")


async def test_accepted_events_survive_a_killed_process(tmp_path: Path) -> None:
    child = subprocess.Popen(  # noqa: ASYNC220 - started once, read through a thread
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 30)
    assert line.strip() == b"published"
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    child.stdout.close()

    stores = await open_sqlite(tmp_path)
    queue = ReadyQueue()
    kernel = Kernel(stores, Brains(Config()), notifier=queue)
    runtime = EmbeddedRuntime(kernel, queue, workers=2, sweep_interval_s=0.05)
    await runtime.start()  # the boot sweep finds the mail
    try:
        async with asyncio.timeout(10):
            while await stores.mailbox.pending(f"{TENANT}/alpha"):
                await asyncio.sleep(0.01)
    finally:
        await runtime.shutdown()
    steps = await stores.mailbox.steps(f"{TENANT}/alpha", limit=100)
    assert sorted(e.id for s in steps for e in s.events) == sorted(f"e{i}" for i in range(20))
    await stores.close()


# ---------------------------------------------------------------- 3. one step at a time per agent


async def test_steps_are_serialized_per_agent_and_parallel_across_agents(stores: Stores) -> None:
    queue = ReadyQueue()
    kernel = Kernel(stores, Brains(Config()), notifier=queue)
    for name in ("alpha", "beta", "gamma"):
        await kernel.register(TENANT, spec(name, entry="slow", limits={"max_events_per_step": 1},
                                           subscriptions=[{"type": "*"}]))
    runtime = EmbeddedRuntime(kernel, queue, workers=6)
    await runtime.start()
    try:
        for i in range(10):
            await kernel.publish(TENANT, event())
            for name in ("alpha", "beta", "gamma"):
                await queue.notify(f"{TENANT}/{name}")  # extra, concurrent notifications
        async with asyncio.timeout(20):
            while sum(brains_for_tests.CALLS.values()) < 30:
                await asyncio.sleep(0.01)
    finally:
        await runtime.shutdown()
    assert brains_for_tests.CALLS == {"alpha": 10, "beta": 10, "gamma": 10}
    assert max(brains_for_tests.MAX_IN_FLIGHT.values()) == 1, "two steps of one agent overlapped"
    assert brains_for_tests.GLOBAL["max"] > 1, "different agents never ran in parallel"


# ---------------------------------------------------------------- 4. idle agents cost nothing


async def test_booting_with_many_idle_agents_loads_none(stores: Stores) -> None:
    brains = Brains(Config())
    kernel = Kernel(stores, brains, notifier=NoNotifier())
    for i in range(300):
        await kernel.register(TENANT, spec(f"idle-{i:04d}", subscriptions=[{"type": "x"}]))
    queue = ReadyQueue()
    fresh = Kernel(stores, brains, notifier=queue)
    tasks_before = len(asyncio.all_tasks())
    runtime = EmbeddedRuntime(fresh, queue, workers=2)
    await runtime.start()
    try:
        assert len(asyncio.all_tasks()) - tasks_before == 4  # 2 workers + cron + sweep, not one per agent
        assert fresh._brain_cache == {} and len(queue) == 0
        assert brains_for_tests.CALLS == {}
    finally:
        await runtime.shutdown()
