"""Cron wakes. The next wake time is persisted on the agent record (`next_wake_at`), so a restart neither skips
nor doubles a due wake: the timer event's id is derived from the agent and the scheduled time, and the tenant's
event-id dedupe makes a second delivery of the same wake a no-op. Wakes missed while the host was down fire
once on boot (one catch-up event carrying the scheduled time), not once per missed slot."""

from __future__ import annotations

from datetime import datetime, timezone

from croniter import CroniterError, croniter

from aos.model import TARGET_EXT, AgentRecord, Event

TIMER_TYPE = "aos.timer"


def next_wake(schedule: list[str], after: datetime) -> datetime | None:
    """The earliest time strictly after `after` at which any of the cron expressions fires (UTC)."""
    if not schedule:
        return None
    base = after.astimezone(timezone.utc)
    times = []
    for expr in schedule:
        try:
            times.append(croniter(expr, base).get_next(datetime))
        except CroniterError:  # no such date: it never fires (AgentSpec refuses it; this keeps next_wake total)
            continue
    return min(times).astimezone(timezone.utc) if times else None


def timer_event(record: AgentRecord, due: datetime, now: datetime) -> Event:
    stamp = due.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Event.model_validate({
        "id": f"timer:{record.id}:{record.incarnation}:{stamp}",
        "source": "aos://scheduler",
        "type": TIMER_TYPE,
        "subject": record.id,
        "time": now,
        "data": {"scheduled_for": due.isoformat(), "schedule": list(record.spec.schedule)},
        TARGET_EXT: record.id,
    })
