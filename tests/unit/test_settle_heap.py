"""`settle_heap`: what exists once `aos up` is listening is frozen out of the collector's full passes."""

from __future__ import annotations

import gc

from aos.runtime import settle_heap


def test_settle_heap_freezes_what_exists_and_leaves_later_objects_to_the_collector() -> None:
    before = gc.get_freeze_count()
    try:
        settle_heap()
        frozen = gc.get_freeze_count()
        assert frozen > before
        later = [[] for _ in range(1000)]  # new objects stay collectable
        assert gc.get_freeze_count() == frozen and gc.is_tracked(later[0])
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
