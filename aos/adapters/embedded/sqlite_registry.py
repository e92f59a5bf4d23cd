"""AgentRegistry on SQLite: one row per agent plus two index tables (subscriptions, labels).

Why index tables: `subscribers` and label-filtered `list` must answer from indexes, never by loading every
agent (booting with 100,000 agents costs nothing). An event type is expanded into its candidate patterns
(`common.type_patterns`) and looked up with `pattern IN (...)`. The index rows are rewritten only when the
subscriptions or labels change, so frequent state/`next_wake_at` updates stay one-row writes.

`subscribers` returns matching records in every state (registered, suspended, retired...): the port does not
filter by state, the kernel decides who wakes. `due` orders by `next_wake_at`, then tenant, then id.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from datetime import datetime

from aos.adapters.embedded.common import (
    check_limit,
    decode_cursor,
    encode_cursor,
    micros,
    type_patterns,
    version_conflict,
)
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.errors import AgentExists, AgentNotFound
from aos.model import AgentRecord, AgentState
from aos.ports import AgentRegistry

SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    tenant TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    next_wake_us INTEGER,
    index_sig TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (tenant, agent_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS agents_due ON agents (state, next_wake_us) WHERE next_wake_us IS NOT NULL;
CREATE INDEX IF NOT EXISTS agents_state ON agents (tenant, state, agent_id);
CREATE TABLE IF NOT EXISTS agent_subscriptions (
    tenant TEXT NOT NULL,
    pattern TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    PRIMARY KEY (tenant, pattern, agent_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agent_labels (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    PRIMARY KEY (tenant, name, value, agent_id)
) WITHOUT ROWID;
"""


_LABEL_FILTER = (
    "AND a.agent_id IN (SELECT agent_id FROM agent_labels WHERE tenant = ? AND name = ? AND value = ?)"
)

_BY_LABEL = (
    "SELECT a.record FROM agent_labels l CROSS JOIN agents a ON a.tenant = l.tenant AND a.agent_id = l.agent_id"
    " WHERE l.tenant = ? AND l.name = ? AND l.value = ? AND l.agent_id > ?"
)


def _list_query(
    tenant: str, state: AgentState | None, labels: dict[str, str], after: str, limit: int
) -> tuple[str, list[object]]:
    """One page of `list` as SQL, driven by the most selective index the filters allow.

    With labels, the page walks the first label's index rows (CROSS JOIN pins that loop order) and checks the
    rest per row; with a state only, the (tenant, state, id) index; otherwise the primary key. Either way the
    walk is in id order from the cursor, so `LIMIT` stops it after one page.
    """
    pairs = sorted(labels.items())
    args: list[object] = []
    if pairs:
        sql = [_BY_LABEL]
        args += [tenant, pairs[0][0], pairs[0][1], after]
        order = "l.agent_id"
    else:
        by_state = "INDEXED BY agents_state" if state is not None else ""
        sql = [f"SELECT a.record FROM agents a {by_state} WHERE a.tenant = ? AND a.agent_id > ?"]
        args += [tenant, after]
        order = "a.agent_id"
    if state is not None:
        sql.append("AND a.state = ?")
        args.append(state.value)
    for name, value in pairs[1:]:
        sql.append(_LABEL_FILTER)
        args += [tenant, name, value]
    sql.append(f"ORDER BY {order} LIMIT ?")
    args.append(limit)
    return " ".join(sql), args


def _sig(record: AgentRecord) -> str:
    """What the index tables hold for this record; unchanged signature means no index rewrite."""
    patterns = sorted({s.type for s in record.spec.subscriptions})
    return json.dumps([patterns, sorted(record.spec.labels.items())], separators=(",", ":"))


def _wake(record: AgentRecord) -> int | None:
    return micros(record.next_wake_at) if record.next_wake_at is not None else None


def _reindex(conn: sqlite3.Connection, record: AgentRecord, *, fresh: bool) -> None:
    key = (record.tenant, record.id)
    if not fresh:
        conn.execute("DELETE FROM agent_subscriptions WHERE tenant = ? AND agent_id = ?", key)
        conn.execute("DELETE FROM agent_labels WHERE tenant = ? AND agent_id = ?", key)
    conn.executemany(
        "INSERT OR IGNORE INTO agent_subscriptions (tenant, pattern, agent_id) VALUES (?, ?, ?)",
        [(record.tenant, s.type, record.id) for s in record.spec.subscriptions],
    )
    conn.executemany(
        "INSERT INTO agent_labels (tenant, name, value, agent_id) VALUES (?, ?, ?, ?)",
        [(record.tenant, k, v, record.id) for k, v in record.spec.labels.items()],
    )


def _records(rows: list[tuple[str]]) -> list[AgentRecord]:
    return [AgentRecord.model_validate_json(row[0]) for row in rows]


class SqliteAgentRegistry(AgentRegistry):
    """See the module docstring. Limitations: one process per database file (see `SqliteDatabase`)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.add_schema(SCHEMA)

    async def create(self, record: AgentRecord) -> AgentRecord:
        stored = record.model_copy(update={"version": 1}, deep=True)
        row = (
            stored.tenant,
            stored.id,
            stored.state.value,
            1,
            _wake(stored),
            _sig(stored),
            stored.model_dump_json(),
        )

        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "INSERT INTO agents (tenant, agent_id, state, version, next_wake_us, index_sig, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                row,
            )
            if cur.rowcount == 0:
                raise AgentExists(stored.id)
            _reindex(conn, stored, fresh=True)

        await self._db.write(op)
        return stored

    async def get(self, tenant: str, agent_id: str) -> AgentRecord:
        def op(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT record FROM agents WHERE tenant = ? AND agent_id = ?", (tenant, agent_id)
            ).fetchone()
            return row[0] if row else None

        raw = await self._db.read(op)
        if raw is None:
            raise AgentNotFound(tenant, agent_id)
        return AgentRecord.model_validate_json(raw)

    async def update(self, record: AgentRecord) -> AgentRecord:
        expected = record.version
        stored = record.model_copy(update={"version": expected + 1}, deep=True)
        sig = _sig(stored)
        values = (stored.state.value, expected + 1, _wake(stored), sig, stored.model_dump_json())

        def op(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT version, index_sig FROM agents WHERE tenant = ? AND agent_id = ?",
                (stored.tenant, stored.id),
            ).fetchone()
            if row is None:
                raise AgentNotFound(stored.tenant, stored.id)
            if row[0] != expected:
                raise version_conflict(f"agent '{stored.id}'", expected, row[0], agent_id=stored.id)
            conn.execute(
                "UPDATE agents SET state = ?, version = ?, next_wake_us = ?, index_sig = ?, record = ?"
                " WHERE tenant = ? AND agent_id = ?",
                (*values, stored.tenant, stored.id),
            )
            if row[1] != sig:
                _reindex(conn, stored, fresh=False)

        await self._db.write(op)
        return stored

    async def delete(self, tenant: str, agent_id: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            key = (tenant, agent_id)
            cur = conn.execute("DELETE FROM agents WHERE tenant = ? AND agent_id = ?", key)
            conn.execute("DELETE FROM agent_subscriptions WHERE tenant = ? AND agent_id = ?", key)
            conn.execute("DELETE FROM agent_labels WHERE tenant = ? AND agent_id = ?", key)
            return cur.rowcount > 0

        return await self._db.write(op)

    async def list(
        self,
        tenant: str,
        *,
        state: AgentState | None = None,
        labels: dict[str, str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[AgentRecord], str | None]:
        check_limit(limit)
        query, args = _list_query(
            tenant, state, labels or {}, decode_cursor(cursor) if cursor else "", limit + 1
        )
        rows = await self._db.read(lambda conn: conn.execute(query, args).fetchall())
        records = _records(rows[:limit])
        more = len(rows) > limit
        return records, encode_cursor(records[-1].id) if more else None

    async def subscribers(self, tenant: str, event_type: str) -> builtins.list[AgentRecord]:
        patterns = type_patterns(event_type)
        query = (
            "SELECT record FROM agents WHERE tenant = ? AND agent_id IN"
            " (SELECT agent_id FROM agent_subscriptions"
            f" WHERE tenant = ? AND pattern IN ({','.join('?' * len(patterns))})) ORDER BY agent_id"
        )
        rows = await self._db.read(lambda conn: conn.execute(query, (tenant, tenant, *patterns)).fetchall())
        return _records(rows)

    async def due(self, now: datetime, limit: int = 100) -> builtins.list[AgentRecord]:
        check_limit(limit)
        query = (
            "SELECT record FROM agents INDEXED BY agents_due"
            " WHERE state = ? AND next_wake_us IS NOT NULL AND next_wake_us <= ?"
            " ORDER BY next_wake_us, tenant, agent_id LIMIT ?"
        )
        args = (AgentState.ACTIVE.value, micros(now), limit)
        rows = await self._db.read(lambda conn: conn.execute(query, args).fetchall())
        return _records(rows)

    async def count(self) -> int:
        row = await self._db.read(lambda conn: conn.execute("SELECT count(*) FROM agents").fetchone())
        return int(row[0])
