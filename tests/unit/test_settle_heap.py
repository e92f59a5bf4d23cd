"""`settle_heap`: what exists once `aos up` is listening is frozen out of the collector's full passes, and the
full passes run on a timer instead of whenever CPython's counters say so."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable

from aos.runtime import settle_heap


def _settled(check: Callable[[int], Awaitable[None]]) -> None:
    thresholds = gc.get_threshold()
    before = gc.get_freeze_count()
    try:
        asyncio.run(check(before))
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
        gc.set_threshold(*thresholds)


def test_settle_heap_freezes_what_exists_and_leaves_later_objects_to_the_collector() -> None:
    async def check(before: int) -> None:
        settle_heap()
        frozen = gc.get_freeze_count()
        assert frozen > before
        later = [[] for _ in range(1000)]  # new objects stay collectable
        assert gc.get_freeze_count() == frozen and gc.is_tracked(later[0])

    _settled(check)


def test_full_passes_run_on_the_timer_and_collect_cycles() -> None:
    passes: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            passes.append(info["collected"])

    async def check(_: int) -> None:
        young, middle, _ = gc.get_threshold()
        settle_heap(full_pass_every_s=0.05)
        assert gc.get_threshold() == (young, middle, 1 << 30)  # CPython no longer starts full passes itself
        gc.callbacks.append(seen)
        try:
            cycle: list[object] = []
            cycle.append(cycle)
            gc.collect(1)  # the cycle reaches the oldest generation, where only a full pass looks
            del cycle
            await asyncio.sleep(0.2)
        finally:
            gc.callbacks.remove(seen)
        assert len(passes) >= 2  # the timer keeps going
        assert any(collected >= 1 for collected in passes)  # and the full pass freed the cycle

    _settled(check)
