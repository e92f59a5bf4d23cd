"""A small builder of Durable Functions orchestration history, in the JSON the extension sends the worker.

Each `episode()` is one orchestrator invocation (OrchestratorStarted … OrchestratorCompleted); the last one is
left open so the engine treats its events as new. Event ids follow the engine's numbering: activities and
timers take ids 0, 1, 2... in the order the orchestrator schedules them; completions point back at them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

START = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


class History:
    def __init__(self, instance: str, input_: Any, start: datetime = START) -> None:
        self.instance, self.input, self.now = instance, input_, start
        self.events: list[dict[str, Any]] = []
        self._seq = 0
        self._add(12)  # OrchestratorStarted
        self._add(0, Name="agent_orchestrator", Input=json.dumps(input_), Version="")  # ExecutionStarted

    def _add(self, type_: int, event_id: int = -1, **fields: Any) -> dict[str, Any]:
        event = {"EventType": type_, "EventId": event_id, "IsPlayed": False,
                 "Timestamp": self.now.isoformat().replace("+00:00", "Z"), **fields}
        self.events.append(event)
        return event

    def episode(self, seconds: float = 1) -> History:
        """Close the current invocation (its events were played) and open the next, `seconds` later."""
        for event in self.events:
            event["IsPlayed"] = True
        self._add(13)  # OrchestratorCompleted
        self.now += timedelta(seconds=seconds)
        self._add(12)
        return self

    def _next_id(self) -> int:
        self._seq += 1
        return self._seq - 1

    def activity(self, name: str, result: Any) -> History:
        task = self._next_id()
        self._add(4, task, Name=name)  # TaskScheduled
        self.episode()
        self._add(5, TaskScheduledId=task, Result=json.dumps(result))  # TaskCompleted
        return self

    def activity_failed(self, name: str, reason: str, retry_after: float) -> History:
        """A failed attempt of an activity called with retry: failure, then the engine's retry timer."""
        task = self._next_id()
        self._add(4, task, Name=name)
        self.episode()
        self._add(6, TaskScheduledId=task, Reason=reason, Details="Traceback: ...")  # TaskFailed
        timer = self._next_id()
        fire_at = self.now + timedelta(seconds=retry_after)
        self._add(10, timer, FireAt=fire_at.isoformat())  # TimerCreated
        self.episode(retry_after)
        self._add(11, TimerId=timer, FireAt=fire_at.isoformat())  # TimerFired
        return self

    def activity_failed_last(self, name: str, reason: str) -> History:
        """A failed attempt the orchestrator does not retry."""
        task = self._next_id()
        self._add(4, task, Name=name)
        self.episode()
        self._add(6, TaskScheduledId=task, Reason=reason, Details="Traceback: ...")
        return self

    def timer_created(self, fire_at: datetime) -> int:
        timer = self._next_id()
        self._add(10, timer, FireAt=fire_at.isoformat())
        return timer

    def timer_fired(self, timer: int, fire_at: datetime) -> History:
        self.now = max(self.now, fire_at)
        self._add(11, TimerId=timer, FireAt=fire_at.isoformat())
        return self

    def event_raised(self, name: str, data: Any = None) -> History:
        self._add(15, Name=name, Input=json.dumps(data))  # EventRaised
        return self

    def body(self) -> str:
        return json.dumps({"history": self.events, "instanceId": self.instance, "isReplaying": False,
                           "parentInstanceId": None, "input": json.dumps(self.input),
                           "upperSchemaVersion": 2})
