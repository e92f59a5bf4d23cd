"""The benchmark's no-op brain: it notes when it first saw each event id, and decides nothing.

Lives beside `wakes.py` so the `python` brain entrypoint `wakes_brain:noop` imports when the benchmark runs as a
script (its folder is on `sys.path`). Plain function, so it runs on the event loop like any quick python brain.
"""

from __future__ import annotations

import time
from typing import Any

#: event id → `time.perf_counter()` when a brain first saw it (a retried step does not move it).
SEEN: dict[str, float] = {}


def noop(ctx: Any, events: list[Any]) -> None:
    now = time.perf_counter()
    for event in events:
        SEEN.setdefault(event.id, now)
