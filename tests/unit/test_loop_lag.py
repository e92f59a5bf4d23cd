"""`LoopLag`: a blocked event loop is reported once it catches up, with how long, where it was held, and how
much of it was garbage collection; a loop that keeps up reports nothing."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest

from aos.runtime.lag import LoopLag


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # what a long synchronous callback does to every event behind it


async def _watched(lag: LoopLag, body) -> None:  # type: ignore[no-untyped-def]
    lag.start()
    try:
        await asyncio.sleep(0.05)
        await body()
        await asyncio.sleep(lag.interval_s * 3)  # the next beat comes and reports
    finally:
        lag.stop()


def test_a_blocked_loop_is_reported_with_where_it_was_held(caplog: pytest.LogCaptureFixture) -> None:
    lag = LoopLag(0.05)

    async def body() -> None:
        _hold_the_loop(0.3)

    with caplog.at_level(logging.WARNING, logger="aos.runtime.lag"):
        asyncio.run(_watched(lag, body))
    assert lag.lags == 1
    assert 250 <= lag.longest_s * 1000 < 1000
    assert lag.last is not None and lag.last["ms"] >= 250
    assert any("_hold_the_loop" in frame for frame in lag.last["where"])  # the sampled stack names the culprit
    assert lag.last["queued"] is not None and lag.last["queued"] <= 2  # one callback held it, nothing piled up
    (record,) = [r for r in caplog.records if r.name == "aos.runtime.lag"]
    assert "fell" in record.message and "_hold_the_loop" in record.message
    assert lag.stats()["lags"] == 1 and lag.stats()["threshold_ms"] == 50.0


def test_an_overloaded_loop_is_told_apart_by_the_callbacks_waiting() -> None:
    lag = LoopLag(0.05)

    async def body() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(1500):  # each short, together 0.3 s: no single culprit
            loop.call_soon(_hold_the_loop, 0.0002)
        await asyncio.sleep(0)

    asyncio.run(_watched(lag, body))
    assert lag.lags >= 1 and lag.last is not None
    assert lag.last["queued"] is not None and lag.last["queued"] > 100


def test_time_in_garbage_collection_is_counted_apart() -> None:
    lag = LoopLag(0.02)
    junk = [[i] for i in range(600_000)]  # tracked containers: a full collection has to walk them all

    async def body() -> None:
        started = time.perf_counter()
        while time.perf_counter() - started < 0.1:  # at least one late beat, however fast the collector is
            gc.collect()

    try:
        asyncio.run(_watched(lag, body))
    finally:
        del junk
    assert lag.lags >= 1 and lag.last is not None
    assert lag.last["gc_ms"] > 0.5 * lag.last["ms"]  # the lag was (nearly) all collection


def test_a_loop_that_keeps_up_reports_nothing_and_stop_ends_the_watch() -> None:
    lag = LoopLag(0.5)

    async def body() -> None:
        for _ in range(20):
            _hold_the_loop(0.005)
            await asyncio.sleep(0)

    asyncio.run(_watched(lag, body))
    assert lag.lags == 0 and lag.last is None
    assert lag._thread is not None and not lag._thread.is_alive()
    assert lag._on_gc not in gc.callbacks
    lag.stop()  # idempotent


def test_the_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoopLag(0)


def test_the_host_watches_from_watch_loop_until_shutdown_and_not_at_all_when_off() -> None:
    from aos.config import Config
    from aos.runtime import System

    async def check() -> None:
        async with System.open(Config(backend="memory", admin_key="k" * 24)) as system:
            lag = system.runtime.lag
            assert lag is not None and not lag.watching  # booting is not watched
            system.runtime.watch_loop()
            system.runtime.watch_loop()  # idempotent
            assert lag.watching and system.runtime.stats()["loop_lag"]["watching"] is True
        assert not lag.watching  # shutdown stopped it
        system.runtime.watch_loop()
        assert not lag.watching  # and it stays stopped
        async with System.open(Config(backend="memory", admin_key="k" * 24), run=False) as system:
            system.runtime.watch_loop()  # a host without embedded workers (the Functions worker) may watch too
            unstarted = system.runtime.lag
            assert unstarted is not None and unstarted.watching
        assert not unstarted.watching
        async with System.open(Config(backend="memory", admin_key="k" * 24, loop_lag_warn_ms=0)) as system:
            system.runtime.watch_loop()
            assert system.runtime.lag is None and system.runtime.stats()["loop_lag"] is None

    asyncio.run(check())


def test_the_threshold_is_read_from_the_environment_and_checked() -> None:
    from aos.config import Config
    from aos.errors import NotConfigured

    assert Config.load({}).loop_lag_warn_ms == 100.0
    assert Config.load({"AOS_LOOP_LAG_WARN_MS": "20"}).loop_lag_warn_ms == 20.0
    with pytest.raises(NotConfigured, match="AOS_LOOP_LAG_WARN_MS"):
        Config.load({"AOS_LOOP_LAG_WARN_MS": "-5"})
