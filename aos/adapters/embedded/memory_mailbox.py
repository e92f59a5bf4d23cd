"""Mailbox in memory: the same model as the SQLite mailbox (tenant log, per-key rows, step journal) in dicts.

Limitations: not durable, one process, one event loop; `keys_with_work` scans every key. Contract readings
are the SQLite adapter's (see `aos.adapters.embedded.sqlite_mailbox`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aos.adapters.embedded.common import check_limit
from aos.errors import Conflict, NotFound
from aos.model import Decision, Event, StepRecord, StepStatus
from aos.ports import AcceptedEvent, Claim, Clock, Delivery, Mailbox

_OPEN = (StepStatus.CLAIMED, StepStatus.DECIDED)


@dataclass
class _Row:
    pos: int
    status: str = "pending"
    seq: int | None = None


@dataclass
class _Step:
    seq: int
    agent_id: str
    event_ids: list[str]
    started_at: datetime
    status: StepStatus = StepStatus.CLAIMED
    decision: str | None = None
    attempts: int = 1
    error: str | None = None
    finished_at: datetime | None = None


@dataclass
class _Box:
    rows: dict[str, _Row] = field(default_factory=dict)
    steps: dict[int, _Step] = field(default_factory=dict)


class MemoryMailbox(Mailbox):
    accepts_in_order = True  # no I/O: a delivery is done before `deliver` returns

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._log: dict[int, AcceptedEvent] = {}
        self._accepted: dict[tuple[str, str], int] = {}
        self._tenant_log: dict[str, list[int]] = {}
        self._boxes: dict[str, _Box] = {}
        self._next_pos = 1

    async def deliver(self, tenant: str, event: Event, keys: Sequence[str]) -> Delivery:
        seen = self._accepted.get((tenant, event.id))
        if seen is not None:
            return Delivery(duplicate=True, agent_keys=self._log[seen].delivered_to)
        targets = tuple(dict.fromkeys(keys))
        pos, self._next_pos = self._next_pos, self._next_pos + 1
        stored = Event.model_validate_json(event.model_dump_json())
        self._log[pos] = AcceptedEvent(
            pos=pos, event=stored, delivered_to=targets, accepted_at=self._clock.now()
        )
        self._accepted[(tenant, event.id)] = pos
        self._tenant_log.setdefault(tenant, []).append(pos)
        for key in targets:
            self._boxes.setdefault(key, _Box()).rows.setdefault(event.id, _Row(pos=pos))
        return Delivery(duplicate=False, agent_keys=targets)

    async def begin_step(self, key: str, agent_id: str, max_events: int) -> Claim | None:
        check_limit(max_events, "max_events")
        box = self._boxes.get(key)
        if box is None:
            return None
        for step in box.steps.values():
            if step.status in _OPEN:
                step.attempts += 1
                return self._claim(box, step)
        pending = [eid for eid, row in box.rows.items() if row.status == "pending"][:max_events]
        if not pending:
            return None
        seq = max(box.steps, default=0) + 1
        for eid in pending:
            box.rows[eid].status, box.rows[eid].seq = "claimed", seq
        step = box.steps[seq] = _Step(
            seq=seq, agent_id=agent_id, event_ids=pending, started_at=self._clock.now()
        )
        return self._claim(box, step)

    def _events(self, box: _Box, step: _Step) -> list[Event]:
        return [self._log[box.rows[eid].pos].event.model_copy(deep=True) for eid in step.event_ids]

    def _claim(self, box: _Box, step: _Step) -> Claim:
        decision = Decision.model_validate_json(step.decision) if step.decision else None
        return Claim(seq=step.seq, events=self._events(box, step), decision=decision, attempts=step.attempts)

    def _step(self, key: str, seq: int) -> tuple[_Box, _Step]:
        box = self._boxes.get(key)
        step = box.steps.get(seq) if box else None
        if box is None or step is None:
            raise NotFound(f"step {seq} of '{key}' does not exist (never begun, or purged)", key=key, seq=seq)
        return box, step

    async def record_decision(self, key: str, seq: int, decision: Decision) -> Decision:
        _, step = self._step(key, seq)
        if step.decision is None:
            if step.status not in _OPEN:
                raise Conflict(
                    f"step {seq} of '{key}' is {step.status.value}: a finished step takes no decision"
                )
            step.decision, step.status = decision.model_dump_json(), StepStatus.DECIDED
        return Decision.model_validate_json(step.decision)

    async def complete_step(self, key: str, seq: int) -> None:
        self._finish(key, seq, StepStatus.DONE, None)

    async def fail_step(self, key: str, seq: int, error: str) -> None:
        self._finish(key, seq, StepStatus.FAILED, error)

    def _finish(self, key: str, seq: int, to: StepStatus, error: str | None) -> None:
        box, step = self._step(key, seq)
        if step.status == to:
            return
        if step.status not in _OPEN:
            raise Conflict(
                f"step {seq} of '{key}' is already {step.status.value}; it cannot become {to.value}"
            )
        step.status, step.error, step.finished_at = to, error, self._clock.now()
        for eid in step.event_ids:
            box.rows[eid].status = to.value

    async def pending(self, key: str) -> int:
        box = self._boxes.get(key)
        return sum(1 for r in box.rows.values() if r.status in ("pending", "claimed")) if box else 0

    async def keys_with_work(self, limit: int = 1000) -> list[str]:
        check_limit(limit)
        busy = (
            k
            for k, box in self._boxes.items()
            if any(r.status in ("pending", "claimed") for r in box.rows.values())
        )
        return sorted(busy)[:limit]

    async def steps(self, key: str, *, limit: int = 20, before: int | None = None) -> list[StepRecord]:
        check_limit(limit)
        box = self._boxes.get(key)
        if box is None:
            return []
        seqs = sorted((s for s in box.steps if before is None or s < before), reverse=True)[:limit]
        return [self._record(box, box.steps[s]) for s in seqs]

    def _record(self, box: _Box, step: _Step) -> StepRecord:
        return StepRecord(
            agent_id=step.agent_id,
            seq=step.seq,
            status=step.status,
            events=self._events(box, step),
            decision=Decision.model_validate_json(step.decision) if step.decision else None,
            error=step.error,
            attempts=step.attempts,
            started_at=step.started_at,
            finished_at=step.finished_at,
        )

    async def purge(self, key: str) -> int:
        box = self._boxes.pop(key, None)
        return len(box.rows) + len(box.steps) if box else 0

    async def events(
        self, tenant: str, *, limit: int = 50, before: int | None = None, type_prefix: str | None = None
    ) -> list[AcceptedEvent]:
        check_limit(limit)
        found: list[AcceptedEvent] = []
        for pos in reversed(self._tenant_log.get(tenant, [])):
            if before is not None and pos >= before:
                continue
            item = self._log[pos]
            if type_prefix and not item.event.type.startswith(type_prefix):
                continue
            found.append(item)
            if len(found) == limit:
                break
        return [
            AcceptedEvent(a.pos, a.event.model_copy(deep=True), a.delivered_to, a.accepted_at) for a in found
        ]
