from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from aos.kernel import Kernel

from .conftest import TENANT, drain, spec

pytestmark = pytest.mark.anyio
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


async def test_cron_wakes_fire_once_per_slot_and_advance(kernel: Kernel) -> None:
    clock = kernel.stores.clock
    clock.set(T0 + timedelta(minutes=2))  # type: ignore[attr-defined]
    record = await kernel.register(TENANT, spec("ticker", schedule=["*/5 * * * *"]))
    assert record.next_wake_at == T0 + timedelta(minutes=5)
    assert await kernel.tick(T0 + timedelta(minutes=4)) == []
    assert await kernel.tick(T0 + timedelta(minutes=5)) == [f"{TENANT}/ticker"]
    assert await kernel.tick(T0 + timedelta(minutes=5, seconds=30)) == []
    assert (await kernel.get(TENANT, "ticker")).next_wake_at == T0 + timedelta(minutes=10)
    assert await drain(kernel, f"{TENANT}/ticker") == 1
    [step] = await kernel.steps(TENANT, "ticker")
    [timer] = step.events
    assert timer.type == "aos.timer" and timer.data["scheduled_for"] == (T0 + timedelta(minutes=5)).isoformat()


async def test_a_restart_between_publishing_and_advancing_does_not_double_the_wake(kernel: Kernel) -> None:
    kernel.stores.clock.set(T0)  # type: ignore[attr-defined]
    await kernel.register(TENANT, spec("ticker", schedule=["*/5 * * * *"]))
    record = await kernel.get(TENANT, "ticker")
    from aos.kernel.scheduler import timer_event

    # the first host published the wake and died before advancing next_wake_at
    assert record.next_wake_at is not None
    await kernel.publish(TENANT, timer_event(record, record.next_wake_at, T0 + timedelta(minutes=5)))
    await kernel.tick(T0 + timedelta(minutes=5, seconds=1))
    assert await kernel.stores.mailbox.pending(f"{TENANT}/ticker") == 1


async def test_wakes_missed_while_down_fire_once_on_boot(kernel: Kernel) -> None:
    kernel.stores.clock.set(T0)  # type: ignore[attr-defined]
    await kernel.register(TENANT, spec("ticker", schedule=["*/5 * * * *"]))
    assert await kernel.tick(T0 + timedelta(hours=1, minutes=1)) == [f"{TENANT}/ticker"]
    assert await kernel.stores.mailbox.pending(f"{TENANT}/ticker") == 1
    assert (await kernel.get(TENANT, "ticker")).next_wake_at == T0 + timedelta(hours=1, minutes=5)


async def test_suspended_agents_are_not_woken_and_resume_reschedules(kernel: Kernel) -> None:
    kernel.stores.clock.set(T0)  # type: ignore[attr-defined]
    await kernel.register(TENANT, spec("ticker", schedule=["0 * * * *"]))
    await kernel.suspend(TENANT, "ticker")
    assert await kernel.tick(T0 + timedelta(hours=3)) == []
    kernel.stores.clock.set(T0 + timedelta(hours=3, minutes=10))  # type: ignore[attr-defined]
    resumed = await kernel.resume(TENANT, "ticker")
    assert resumed.next_wake_at == T0 + timedelta(hours=4)


def test_a_cron_expression_that_never_fires_is_refused_and_never_breaks_a_wake() -> None:
    from pydantic import ValidationError

    from aos.kernel.scheduler import next_wake
    from aos.model import AgentSpec

    with pytest.raises(ValidationError, match=r"'0 0 31 2 \*' never fires"):  # valid syntax, no February 31st
        AgentSpec.model_validate({"id": "ticker", "brain": {"kind": "scripted"}, "schedule": ["0 0 31 2 *"]})
    AgentSpec.model_validate({"id": "ticker", "brain": {"kind": "scripted"}, "schedule": ["0 0 29 2 *"]})
    # next_wake on its own (specs refuse such an expression): the others still schedule, alone it has no wake
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert next_wake(["0 0 31 2 *", "0 12 * * *"], now) == datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    assert next_wake(["0 0 31 2 *"], now) is None
