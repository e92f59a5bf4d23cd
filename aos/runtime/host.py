"""The embedded host: a ready queue, N asyncio workers, a cron ticker and a self-heal sweep.

Idle agents are rows, not coroutines: nothing here exists per agent except while an agent has mail. A key is
in at most one of `queued` / `running`; a notification for a running agent marks it dirty and it is queued
again when its step ends, which is how steps stay serialized per agent (invariant 3) while different agents
run in parallel.

Shutdown: stop taking new work, let in-flight steps finish within the grace period, then cancel the rest. A
cancelled step is simply unfinished in the journal; the next boot's sweep resumes it with its journaled
decision, so cancelling is safe (invariants 1 and 2).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque

from aos.kernel import Kernel, Notifier
from aos.runtime.lag import LoopLag

log = logging.getLogger("aos.runtime")


#: How often `settle_heap` runs the garbage collector's full pass itself (see there).
FULL_PASS_EVERY_S = 60.0
_NEVER = 1 << 30  # a gen-2 threshold no count of gen-1 passes reaches


def settle_heap(full_pass_every_s: float = FULL_PASS_EVERY_S) -> None:
    """Once the process has booted, on its event loop: collect what booting left behind, freeze the rest
    (modules, schemas, the app) out of the garbage collector's full passes, and from then on run those full
    passes on a timer, every `full_pass_every_s`, instead of whenever CPython's counters say so.

    Why the freeze: a full pass walks every tracked object, and a booted `aos up` holds over 100,000 of them
    before its first event, almost all alive for good. Each full pass stopped the event loop for 100-125 ms
    (a few per minute under load), and every event that arrived meanwhile waited: most of the p99 latency at
    a fixed 1,000 events/s in `bench/wakes.py` (89-128 ms, then 11-21 ms frozen). Objects that die later are
    still freed by reference counting; only cycles among boot-time objects stay until exit.

    Why the timer: what the process caches after boot (agent records, brains, routes: about 32 tracked
    objects per agent) is walked by every full pass, and under load CPython started one every 3-4 s (once a
    quarter as many objects as the last pass kept had reached the oldest generation), each stopping the loop
    for 20-40 ms with 1,000 agents cached: the largest stalls left at 1,000 events/s. On the timer that stall
    comes once a minute. Young objects are still collected as usual; cyclic garbage that reached the oldest
    generation waits at most `full_pass_every_s` for its pass.
    """
    loop = asyncio.get_running_loop()
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)

    def full_pass() -> None:
        gc.collect()
        loop.call_later(full_pass_every_s, full_pass)

    loop.call_later(full_pass_every_s, full_pass)


class ReadyQueue(Notifier):
    in_process = True  # `notify` never suspends: it queues the key and wakes a worker of this process

    def __init__(self) -> None:
        self._order: deque[str] = deque()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._idle: deque[asyncio.Future[None]] = deque()  # workers waiting in `take`, oldest first
        self.closed = False

    async def notify(self, key: str) -> None:
        if self.closed or key in self._queued:
            return
        if key in self._running:
            self._dirty.add(key)
            return
        self._queued.add(key)
        self._order.append(key)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def take(self) -> str | None:
        """The next key to run (now marked running), or None once closed."""
        while not self._order:
            if self.closed:
                return None
            waiter = asyncio.get_running_loop().create_future()
            self._idle.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled: hand the wake-up on
                raise
        key = self._order.popleft()
        self._queued.discard(key)
        self._running.add(key)
        return key

    async def done(self, key: str, more: bool) -> None:
        self._running.discard(key)
        if more or key in self._dirty:
            self._dirty.discard(key)
            await self.notify(key)

    async def close(self) -> None:
        self.closed = True
        while self._idle:  # every waiting worker sees `closed` and returns None
            self._wake_one()

    def __len__(self) -> int:
        return len(self._order)

    @property
    def running(self) -> frozenset[str]:
        return frozenset(self._running)


class EmbeddedRuntime:
    def __init__(
        self,
        kernel: Kernel,
        queue: ReadyQueue,
        *,
        workers: int = 4,
        scheduler_interval_s: float = 1.0,
        sweep_interval_s: float = 5.0,
        lag_threshold_s: float | None = None,
    ) -> None:
        self.kernel = kernel
        self.queue = queue
        self._workers = workers
        self._scheduler_interval = scheduler_interval_s
        self._sweep_interval = sweep_interval_s
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._stopped = False
        self.steps_done = 0
        self.steps_failed = 0
        self.started_at = time.monotonic()
        self.lag = LoopLag(lag_threshold_s) if lag_threshold_s else None
        self._shut = False  # `shutdown` was called (started or not)

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        recovered = await self.kernel.sweep()
        if recovered:
            log.info("recovering %d agent(s) with unprocessed mail", len(recovered))
        self._tasks = [asyncio.create_task(self._worker(i), name=f"aos-worker-{i}") for i in range(self._workers)]
        self._tasks.append(asyncio.create_task(self._every(self._scheduler_interval, self._tick), name="aos-cron"))
        self._tasks.append(asyncio.create_task(self._every(self._sweep_interval, self._sweep), name="aos-sweep"))

    def watch_loop(self) -> None:
        """Start watching the event loop's lag (`aos.runtime.lag`), once the host has booted: booting imports
        and builds for a few hundred milliseconds, which would only be reported as noise. Idempotent; a no-op
        when the watch is off (`AOS_LOOP_LAG_WARN_MS=0`) or once the runtime has been shut down."""
        if self.lag is not None and not self.lag.started and not self._shut:
            self.lag.start()

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """Idempotent. Finishes in-flight steps within `grace_s`, then cancels what is left."""
        self._shut = True
        if self.lag is not None:
            self.lag.stop()
        if not self._started or self._stopped:
            return
        self._stopped = True
        await self.queue.close()
        timers, workers = self._tasks[self._workers:], self._tasks[: self._workers]
        for task in timers:
            task.cancel()
        _, pending = await asyncio.wait(workers, timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if pending:
            log.warning("%d step(s) abandoned at shutdown; they resume on the next start", len(pending))

    async def _worker(self, index: int) -> None:
        while (key := await self.queue.take()) is not None:
            more = False
            try:
                outcome = await self.kernel.run_step(key)
                if outcome is not None:
                    more = outcome.more
                    if outcome.status == "done":
                        self.steps_done += 1
                    else:
                        self.steps_failed += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("step of %s did not finish; the sweep will retry it", key)
            finally:
                if not self.queue.closed:
                    await self.queue.done(key, more)

    async def _every(self, interval: float, action: asyncio.Future[None] | object) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await action()  # type: ignore[operator]
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic task failed; retrying in %.1fs", interval)

    async def _tick(self) -> None:
        await self.kernel.tick()

    async def _sweep(self) -> None:
        await self.kernel.sweep()

    def stats(self) -> dict[str, object]:
        return {
            "workers": self._workers,
            "queued": len(self.queue),
            "running": len(self.queue.running),
            "steps_done": self.steps_done,
            "steps_failed": self.steps_failed,
            "loop_lag": self.lag.stats() if self.lag is not None else None,
        }
