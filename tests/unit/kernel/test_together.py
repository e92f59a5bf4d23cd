"""`together`: gather's contract for a step's writes, with one task fewer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.kernel.step import together

pytestmark = pytest.mark.anyio


async def _after(delay: float, value: object, log: list[object], error: BaseException | None = None) -> object:
    await asyncio.sleep(delay)
    log.append(value)
    if error is not None:
        raise error
    return value


async def test_results_come_back_in_order_and_every_awaitable_runs() -> None:
    log: list[object] = []
    head, rest = await together(_after(0.02, "a", log), _after(0.01, "b", log), _after(0.0, "c", log))
    assert (head, rest) == ("a", ["b", "c"])
    assert sorted(log) == ["a", "b", "c"]  # concurrently: the slowest was awaited first


async def test_when_the_first_fails_the_others_still_finish_and_its_error_is_raised() -> None:
    log: list[object] = []
    with pytest.raises(KeyError):
        await together(_after(0.0, "a", log, KeyError("first")), _after(0.02, "b", log),
                       _after(0.01, "c", log, ValueError("later")))
    assert sorted(log) == ["a", "b", "c"]


async def test_when_another_fails_its_error_is_raised_after_all_finish() -> None:
    log: list[object] = []
    with pytest.raises(ValueError, match="b failed"):
        await together(_after(0.0, "a", log), _after(0.0, "b", log, ValueError("b failed")), _after(0.02, "c", log))
    assert sorted(log) == ["a", "b", "c"]


async def test_cancelling_it_cancels_the_others() -> None:
    log: list[object] = []
    started = asyncio.ensure_future(together(_after(1.0, "a", log), _after(1.0, "b", log)))
    await asyncio.sleep(0.01)
    started.cancel()
    with pytest.raises(asyncio.CancelledError):
        await started
    await asyncio.sleep(0.01)
    assert log == []
    assert not [t for t in asyncio.all_tasks() if "_after" in repr(t)]  # nothing left running


async def test_writes_started_together_share_one_group_commit(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "t.db")
    db.add_schema("CREATE TABLE IF NOT EXISTS t (n INTEGER);")
    await db.start()
    try:
        before = db.commits
        await together(*(db.write(lambda c, n=n: c.execute("INSERT INTO t VALUES (?)", (n,))) for n in range(4)))
        assert db.commits - before == 1
    finally:
        await db.close()
