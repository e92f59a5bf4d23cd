"""Event-loop lag: how far the embedded host's event loop falls behind, and what held it.

Why: every step, publish and API call of the embedded host runs on one event loop (and, in inline mode, every
SQLite commit too), so whatever holds the loop (a long callback, a slow COMMIT or WAL restart, a garbage
collection, a CPU-bound brain) delays every event waiting behind it. A few such stops set `bench/wakes.py`'s
p99; in a running `aos up` they were invisible. `LoopLag` makes them visible: a timer on the loop beats every
`interval`, and a thread watches the beats. When a beat is more than `threshold` late, the thread samples the
loop thread's stack (what is running at that moment); when the loop catches up, the beat logs one warning
(how late, where it was, how much of it was garbage collection) and `/api/health` counts it.

Cost: a timer callback per `interval` (threshold/4, at least 5 ms apart) and a thread waking half as often,
plus a `gc.callbacks` hook timing collections on the loop's thread. At a 20 ms threshold (`bench/wakes.py`),
about 1 % more CPU on the loop's thread and 2-3 % in all at 700 events/s; at the default 100 ms, a fifth of
that.

Limitations: the stack is sampled once per late beat, so a lag made of many short callbacks (an overloaded
loop rather than a blocked one) shows whichever was running then; the report says how many callbacks were
waiting to run at that moment (asyncio's run queue, a private attribute; not shown on other loops), which
tells the two apart. The garbage collector holds the GIL, so the
thread cannot sample during a collection: its time is reported apart (`gc_ms`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger("aos.runtime.lag")
#: Innermost frames of the loop thread's stack kept per sample.
FRAMES = 8
#: Reports kept in `LoopLag.recent`.
RECENT = 32


class LoopLag:
    def __init__(self, threshold_s: float, *, interval_s: float | None = None) -> None:
        if threshold_s <= 0:
            raise ValueError("threshold_s must be positive")
        self.threshold_s = threshold_s
        self.interval_s = interval_s if interval_s is not None else max(threshold_s / 4, 0.005)
        self.lags = 0  # beats later than the threshold
        self.longest_s = 0.0  # the latest any beat was, under the threshold or not
        self.last: dict[str, Any] | None = None
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)  # the latest reports, oldest first
        self._beat_at = 0.0  # monotonic time of the last beat: written on the loop, read by the thread
        # (beat it belongs to, when, frames, callbacks the loop had ready to run then)
        self._sample: tuple[float, float, list[str], int | None] | None = None
        self._gc_s = 0.0  # collection time on the loop thread since the last beat
        self._gc_started = 0.0
        self._loop_thread = 0
        self._ready: Any = None  # the loop's run queue (asyncio's `_ready`), read by the thread for its length
        self._handle: asyncio.TimerHandle | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """On the loop to watch."""
        if self._thread is not None:
            raise RuntimeError("already started")
        loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._ready = getattr(loop, "_ready", None)  # absent on other loops (uvloop): not reported then
        self._beat_at = time.monotonic()
        self._handle = loop.call_later(self.interval_s, self._beat, loop)
        gc.callbacks.append(self._on_gc)
        self._thread = threading.Thread(target=self._watch, name="aos-loop-lag", daemon=True)
        self._thread.start()

    @property
    def watching(self) -> bool:
        return self._thread is not None and not self._stop.is_set()

    @property
    def started(self) -> bool:
        """Started once (a watch starts at most once: `stop` is for good)."""
        return self._thread is not None

    def stop(self) -> None:
        """Idempotent."""
        if self._thread is None or self._stop.is_set():
            return
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self._thread.join(timeout=1.0)

    def reset(self) -> None:
        """Count afresh from now (a benchmark measures one phase at a time)."""
        self.lags, self.longest_s, self.last = 0, 0.0, None
        self.recent.clear()

    def stats(self) -> dict[str, Any]:
        return {"watching": self.watching, "threshold_ms": round(self.threshold_s * 1000, 1), "lags": self.lags,
                "longest_ms": round(self.longest_s * 1000, 1), "last": self.last}

    # ------------------------------------------------------------ on the loop

    def _beat(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        late = now - self._beat_at - self.interval_s
        self.longest_s = max(self.longest_s, late)
        if late > self.threshold_s:
            sample = self._sample
            if sample is not None and sample[0] == self._beat_at:
                self._report(late, self._gc_s, sample[2], (sample[1] - self._beat_at - self.interval_s) * 1000,
                             sample[3])
            else:
                self._report(late, self._gc_s, [], None, None)
        self._gc_s = 0.0
        self._beat_at = now
        if not self._stop.is_set():
            self._handle = loop.call_later(self.interval_s, self._beat, loop)

    def _report(self, late_s: float, gc_s: float, where: list[str], at_ms: float | None,
                queued: int | None) -> None:
        self.lags += 1
        self.last = {"at": datetime.now(timezone.utc).isoformat(), "ms": round(late_s * 1000, 1),
                     "gc_ms": round(gc_s * 1000, 1), "where": where, "queued": queued}
        self.recent.append(self.last)
        if where:
            # Many callbacks waiting: an overloaded loop (the stack is one of many); few: one callback held it.
            waiting = "" if queued is None else f" with {queued} callback(s) waiting behind it"
            place = (f"{at_ms or 0:.0f} ms in, it was running{waiting} (innermost first): "
                     + " <- ".join(reversed(where)))
        else:
            place = "no stack sampled (the loop was in a garbage collection, or caught up before the sample)"
        log.warning("event loop fell %.0f ms behind (threshold %.0f ms; garbage collection %.0f ms of it); %s",
                    late_s * 1000, self.threshold_s * 1000, gc_s * 1000, place)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if threading.get_ident() != self._loop_thread:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self._gc_s += time.perf_counter() - self._gc_started
            self._gc_started = 0.0

    # ------------------------------------------------------------ on the watching thread (GIL taken each wake)

    def _watch(self) -> None:
        # Every wake of this thread takes the GIL from the busy loop for a moment, so it wakes half as often as
        # the loop beats (each beat is a cheap timer on the loop), except that once a beat is overdue it wakes
        # again as the lag crosses the threshold: the sample lands just past it (plus up to the interpreter's
        # switch interval, 5 ms, while the loop runs Python and holds the GIL).
        period = wait = self.interval_s * 2
        while not self._stop.wait(wait):
            wait = period
            beat_at = self._beat_at
            late = time.monotonic() - beat_at - self.interval_s
            if late <= self.threshold_s:
                if late > 0:
                    wait = min(period, self.threshold_s - late + 0.001)
                continue
            sample = self._sample
            if sample is not None and sample[0] == beat_at:
                continue  # this late beat has its sample
            frame = sys._current_frames().get(self._loop_thread)
            if frame is not None:
                queued = len(self._ready) if self._ready is not None else None
                self._sample = (beat_at, time.monotonic(), _frames(frame), queued)


def _frames(frame: Any) -> list[str]:
    """The innermost `FRAMES` frames, outermost first, as `dir/file.py:line function`."""
    out: list[str] = []
    while frame is not None and len(out) < FRAMES:
        code = frame.f_code
        path = Path(code.co_filename)
        where = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
        out.append(f"{where}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return out[::-1]
