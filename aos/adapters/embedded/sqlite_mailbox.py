"""Mailbox on SQLite: the tenant event log, per-key mailbox rows, and the step journal.

Tables:
- `events`: one row per event accepted by a tenant (`pos` autoincrement, unique (tenant, event_id)). The
  event JSON is stored once here, however many agents it goes to; mailbox rows point at it by `pos`.
- `mailbox`: one row per (key, event_id) — unique, which is the per-key dedupe — with a status
  (pending → claimed → done | failed) and the step `seq` that claimed it. Rows stay after processing so a
  re-delivered event id stays a no-op (invariant 2) until `purge(key)` drops them with the agent.
- `steps`: the journal, (key, seq) with status, journaled decision JSON, attempts, error, times.

Every port method is one queued `SqliteDatabase` operation, so concurrent callers share group commits.
`keys_with_work`, `pending` and claiming read a partial index holding only open rows (pending or claimed),
forced with INDEXED BY, so neither 100,000 idle agents nor an agent's long processed history is scanned; an
unfinished step always holds claimed rows, so the same index covers "an unfinished step". A claim finds the
key's unfinished step, if any, as its latest one (one primary-key seek, see `_open_or_next`).

Contract readings (conservative): `Delivery.agent_keys` lists the distinct keys the event is in (for a
duplicate: the keys of the original delivery). `record_decision` on a finished step without a decision,
`complete_step` on a failed step and `fail_step` on a done step raise `Conflict`; an unknown step raises
`NotFound`. A second `fail_step` keeps the first error. After `purge`, sequence numbers restart at 1.
`events(type_prefix=...)` filters while scanning the tenant's log newest first.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aos.adapters.embedded.common import check_limit
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.errors import Conflict, NotFound
from aos.model import Decision, Event, StepRecord, StepStatus
from aos.ports import AcceptedEvent, Claim, Clock, Delivery, Mailbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    event TEXT NOT NULL,
    delivered_to TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    UNIQUE (tenant, event_id)
);
CREATE INDEX IF NOT EXISTS events_log ON events (tenant, pos);
CREATE TABLE IF NOT EXISTS mailbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    pos INTEGER NOT NULL,
    status TEXT NOT NULL,
    seq INTEGER,
    UNIQUE (key, event_id)
);
CREATE INDEX IF NOT EXISTS mailbox_open ON mailbox (key, id) WHERE status IN ('pending', 'claimed');
CREATE INDEX IF NOT EXISTS mailbox_step ON mailbox (key, seq);
CREATE TABLE IF NOT EXISTS steps (
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    agent_id TEXT NOT NULL,
    status TEXT NOT NULL,
    decision TEXT,
    attempts INTEGER NOT NULL,
    error TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;
-- Written by earlier versions; an unfinished step is always its key's latest (see `_open_or_next`).
DROP INDEX IF EXISTS steps_open;
"""

_OPEN = ("claimed", "decided")
_STEP_COLS = "seq, agent_id, status, decision, attempts, error, started_at, finished_at"


def _step_status(conn: sqlite3.Connection, key: str, seq: int) -> tuple[str, str | None]:
    row = conn.execute("SELECT status, decision FROM steps WHERE key = ? AND seq = ?", (key, seq)).fetchone()
    if row is None:
        raise NotFound(f"step {seq} of '{key}' does not exist (never begun, or purged)", key=key, seq=seq)
    return row[0], row[1]


def _step_events(conn: sqlite3.Connection, key: str, lo: int, hi: int) -> list[tuple[int, str]]:
    return conn.execute(
        "SELECT m.seq, e.event FROM mailbox m JOIN events e ON e.pos = m.pos"
        " WHERE m.key = ? AND m.seq BETWEEN ? AND ? ORDER BY m.id",
        (key, lo, hi),
    ).fetchall()


def _open_or_next(conn: sqlite3.Connection, key: str) -> tuple[int, str | None, int] | int:
    """The key's unfinished step as (seq, decision, attempts), or else the seq the next step takes.

    Why only the latest step is looked at: `begin_step` claims a new step only when none is unfinished, so an
    unfinished step is always the key's latest. One seek on the primary key answers both questions, where an
    index of unfinished steps cost two more B-tree writes per step (bench/wakes.py)."""
    row = conn.execute(
        "SELECT seq, status, decision, attempts FROM steps WHERE key = ? ORDER BY seq DESC LIMIT 1", (key,)
    ).fetchone()
    if row is None:
        return 1
    if row[1] not in _OPEN:
        return int(row[0]) + 1
    return row[0], row[2], row[3]


def _resume(
    conn: sqlite3.Connection, key: str, step: tuple[int, str | None, int]
) -> tuple[int, list[str], str | None, int]:
    seq, decision, attempts = step[0], step[1], step[2] + 1
    conn.execute("UPDATE steps SET attempts = ? WHERE key = ? AND seq = ?", (attempts, key, seq))
    return seq, [e for _, e in _step_events(conn, key, seq, seq)], decision, attempts


def _claim(
    conn: sqlite3.Connection, key: str, agent_id: str, max_events: int, now: str, seq: int
) -> tuple[int, list[str], str | None, int] | None:
    rows = conn.execute(
        "SELECT m.id, e.event FROM mailbox m INDEXED BY mailbox_open JOIN events e ON e.pos = m.pos"
        " WHERE m.key = ? AND m.status IN ('pending', 'claimed') AND m.status = 'pending' ORDER BY m.id LIMIT ?",
        (key, max_events),
    ).fetchall()
    if not rows:
        return None
    ids = [r[0] for r in rows]
    conn.execute(
        f"UPDATE mailbox SET status = 'claimed', seq = ? WHERE id IN ({','.join('?' * len(ids))})",
        (seq, *ids),
    )
    conn.execute(
        "INSERT INTO steps (key, seq, agent_id, status, attempts, started_at)"
        " VALUES (?, ?, ?, 'claimed', 1, ?)",
        (key, seq, agent_id, now),
    )
    return seq, [r[1] for r in rows], None, 1


def _deliver(conn: sqlite3.Connection, row: tuple[Any, ...], targets: tuple[str, ...]) -> Delivery:
    """`row`: the `events` row (see `SqliteMailbox._event_row`); `targets`: the distinct keys it goes to."""
    tenant, event_id = row[0], row[1]
    # `rowcount` and `lastrowid`, not `RETURNING pos`: RETURNING cost 8 µs more per insert here (bench/wakes.py)
    cur = conn.execute(
        "INSERT INTO events (tenant, event_id, type, event, delivered_to, accepted_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, event_id) DO NOTHING",
        row,
    )
    if cur.rowcount != 1:
        seen = conn.execute(
            "SELECT delivered_to FROM events WHERE tenant = ? AND event_id = ?", (tenant, event_id)
        ).fetchone()
        return Delivery(duplicate=True, agent_keys=tuple(json.loads(seen[0])))
    conn.executemany(
        "INSERT INTO mailbox (key, event_id, pos, status) VALUES (?, ?, ?, 'pending')"
        " ON CONFLICT (key, event_id) DO NOTHING",
        [(key, event_id, cur.lastrowid) for key in targets],
    )
    return Delivery(duplicate=False, agent_keys=targets)


class SqliteMailbox(Mailbox):
    """See the module docstring. Limitations: one process per database file (see `SqliteDatabase`)."""

    accepts_in_order = True  # one connection (or none), operations in the order they are queued

    def __init__(self, db: SqliteDatabase, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        db.add_schema(SCHEMA)

    async def deliver(self, tenant: str, event: Event, keys: Sequence[str]) -> Delivery:
        row, targets = self._event_row(tenant, event, keys)
        return await self._db.write(lambda conn: _deliver(conn, row, targets))

    async def deliver_many(self, tenant: str, items: Sequence[tuple[Event, Sequence[str]]]) -> list[Delivery]:
        """One operation, so one transaction: every event of the batch is accepted, or none is."""
        rows = [self._event_row(tenant, event, keys) for event, keys in items]
        return await self._db.write(lambda conn: [_deliver(conn, row, targets) for row, targets in rows])

    def _event_row(self, tenant: str, event: Event, keys: Sequence[str]) -> tuple[tuple[Any, ...], tuple[str, ...]]:
        targets = tuple(dict.fromkeys(keys))
        row = (tenant, event.id, event.type, event.model_dump_json(), json.dumps(targets), self._clock.now().isoformat())
        return row, targets

    async def begin_step(self, key: str, agent_id: str, max_events: int) -> Claim | None:
        check_limit(max_events, "max_events")
        now = self._clock.now().isoformat()

        def op(conn: sqlite3.Connection) -> tuple[int, list[str], str | None, int] | None:
            step = _open_or_next(conn, key)
            if isinstance(step, int):
                return _claim(conn, key, agent_id, max_events, now, step)
            return _resume(conn, key, step)

        got = await self._db.write(op)
        if got is None:
            return None
        seq, events, decision, attempts = got
        return Claim(
            seq=seq,
            events=[Event.model_validate_json(e) for e in events],
            decision=Decision.model_validate_json(decision) if decision else None,
            attempts=attempts,
        )

    async def record_decision(self, key: str, seq: int, decision: Decision) -> Decision:
        raw = decision.model_dump_json()

        def op(conn: sqlite3.Connection) -> str:
            cur = conn.execute(
                "UPDATE steps SET decision = ?, status = 'decided' WHERE key = ? AND seq = ?"
                " AND decision IS NULL AND status IN ('claimed', 'decided')",
                (raw, key, seq),
            )
            if cur.rowcount:
                return raw
            status, journaled = _step_status(conn, key, seq)
            if journaled is None:
                raise Conflict(
                    f"step {seq} of '{key}' is {status}: a finished step takes no decision", key=key
                )
            return journaled

        return Decision.model_validate_json(await self._db.write(op))

    async def complete_step(self, key: str, seq: int) -> None:
        await self._finish(key, seq, StepStatus.DONE, None)

    async def finish_step(self, key: str, seq: int, decision: Decision) -> None:
        """Journal the decision and complete the step in one operation (one commit, shared with the step's other
        writes queued beside it)."""
        raw = decision.model_dump_json()
        now = self._clock.now().isoformat()

        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE steps SET decision = ?, status = 'done', finished_at = ? WHERE key = ? AND seq = ?"
                " AND status = 'claimed' AND decision IS NULL",
                (raw, now, key, seq),
            )
            if not cur.rowcount:
                status, journaled = _step_status(conn, key, seq)
                if journaled is None or Decision.model_validate_json(journaled) != decision:
                    held = " with another decision" if journaled else ", without a decision"
                    raise Conflict(f"step {seq} of '{key}' is {status}{held}: it cannot finish with this one", key=key)
                if status == StepStatus.DONE.value:
                    return
                if status == StepStatus.FAILED.value:
                    raise Conflict(f"step {seq} of '{key}' is failed; it cannot become done", key=key)
                conn.execute(
                    "UPDATE steps SET status = 'done', finished_at = ? WHERE key = ? AND seq = ?", (now, key, seq)
                )
            conn.execute("UPDATE mailbox SET status = 'done' WHERE key = ? AND seq = ?", (key, seq))

        await self._db.write(op)

    async def fail_step(self, key: str, seq: int, error: str) -> None:
        await self._finish(key, seq, StepStatus.FAILED, error)

    async def _finish(self, key: str, seq: int, to: StepStatus, error: str | None) -> None:
        now = self._clock.now().isoformat()

        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE steps SET status = ?, error = ?, finished_at = ?"
                " WHERE key = ? AND seq = ? AND status IN ('claimed', 'decided')",
                (to.value, error, now, key, seq),
            )
            if cur.rowcount:
                conn.execute("UPDATE mailbox SET status = ? WHERE key = ? AND seq = ?", (to.value, key, seq))
                return
            status, _ = _step_status(conn, key, seq)
            if status != to.value:
                raise Conflict(
                    f"step {seq} of '{key}' is already {status}; it cannot become {to.value}", key=key
                )

        await self._db.write(op)

    async def pending(self, key: str) -> int:
        query = "SELECT count(*) FROM mailbox INDEXED BY mailbox_open WHERE key = ? AND status IN ('pending', 'claimed')"
        row = await self._db.read(lambda conn: conn.execute(query, (key,)).fetchone())
        return int(row[0])

    async def keys_with_work(self, limit: int = 1000) -> list[str]:
        check_limit(limit)
        query = (
            "SELECT DISTINCT key FROM mailbox INDEXED BY mailbox_open"
            " WHERE status IN ('pending', 'claimed') ORDER BY key LIMIT ?"
        )
        rows = await self._db.read(lambda conn: conn.execute(query, (limit,)).fetchall())
        return [r[0] for r in rows]

    async def steps(self, key: str, *, limit: int = 20, before: int | None = None) -> list[StepRecord]:
        check_limit(limit)

        def op(conn: sqlite3.Connection) -> tuple[list[Any], list[tuple[int, str]]]:
            rows = conn.execute(
                f"SELECT {_STEP_COLS} FROM steps WHERE key = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                (key, before if before is not None else 2**62, limit),
            ).fetchall()
            events = _step_events(conn, key, rows[-1][0], rows[0][0]) if rows else []
            return rows, events

        rows, events = await self._db.read(op)
        by_seq: dict[int, list[Event]] = {}
        for seq, raw in events:
            by_seq.setdefault(seq, []).append(Event.model_validate_json(raw))
        return [_step_record(row, by_seq.get(row[0], [])) for row in rows]

    async def purge(self, key: str) -> int:
        def op(conn: sqlite3.Connection) -> int:
            gone = conn.execute("DELETE FROM mailbox WHERE key = ?", (key,)).rowcount
            return gone + conn.execute("DELETE FROM steps WHERE key = ?", (key,)).rowcount

        return await self._db.write(op)

    async def events(
        self, tenant: str, *, limit: int = 50, before: int | None = None, type_prefix: str | None = None
    ) -> list[AcceptedEvent]:
        check_limit(limit)
        sql = "SELECT pos, event, delivered_to, accepted_at FROM events WHERE tenant = ? AND pos < ?"
        args: list[object] = [tenant, before if before is not None else 2**62]
        if type_prefix:
            sql += " AND substr(type, 1, ?) = ?"
            args += [len(type_prefix), type_prefix]
        sql += " ORDER BY pos DESC LIMIT ?"
        args.append(limit)
        rows = await self._db.read(lambda conn: conn.execute(sql, args).fetchall())
        return [
            AcceptedEvent(
                pos=r[0],
                event=Event.model_validate_json(r[1]),
                delivered_to=tuple(json.loads(r[2])),
                accepted_at=datetime.fromisoformat(r[3]),
            )
            for r in rows
        ]


def _step_record(row: Any, events: list[Event]) -> StepRecord:
    seq, agent_id, status, decision, attempts, error, started_at, finished_at = row
    return StepRecord(
        agent_id=agent_id,
        seq=seq,
        status=StepStatus(status),
        events=events,
        decision=Decision.model_validate_json(decision) if decision else None,
        error=error,
        attempts=attempts,
        started_at=datetime.fromisoformat(started_at),
        finished_at=datetime.fromisoformat(finished_at) if finished_at else None,
    )
