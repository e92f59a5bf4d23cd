"""Clocks: the real one, and a manual one tests move by hand (no sleeping to let time pass)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aos.ports import Clock


class SystemClock(Clock):
    """Wall time in UTC, timezone-aware."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock(Clock):
    """A clock that only moves when told: `set` jumps, `advance` moves forward.

    Why: schedules and timestamps must be testable without waiting. Naive datetimes are refused so that
    comparisons with aware records cannot fail at a distance.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _aware(start) if start is not None else datetime(2025, 1, 1, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = _aware(when)

    def advance(self, delta: timedelta | float) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("a clock does not go backwards: use set() to jump")
        self._now += step
        return self._now


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("ManualClock needs a timezone-aware datetime (e.g. tzinfo=timezone.utc)")
    return when
