"""Governance stores on the shared SQLite database: audit chain, policies, usage counters, approvals.

Audit: one row per record plus a head row per tenant (last seq and hash), both written by one operation in
the writer's group commit, so concurrent appends never fork the chain, and an `append` costs one operation
however many records it carries. The head row makes a cut-off tail detectable (`aos audit verify`).
Usage: one row per (tenant, agent, minute) with a column per metric, upserted; the tenant total is agent
`*`. Limitations: one process per file (as every SQLite adapter); usage rows are kept until `prune`.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aos.adapters.embedded.memory_governance import minute
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.errors import Conflict, NotFound, VersionConflict
from aos.governance_model import (
    GENESIS,
    METRICS,
    STORED,
    Approval,
    ApprovalStatus,
    AuditRecord,
    PolicyRecord,
    chain_records,
)
from aos.ports import ApprovalStore, AuditEntry, AuditLog, Governance, PolicyStore, UsageCounter

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit (
    tenant TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL,
    agent_id TEXT, record TEXT NOT NULL, PRIMARY KEY (tenant, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_heads (tenant TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policies (
    tenant TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, deleted INTEGER NOT NULL,
    record TEXT NOT NULL, PRIMARY KEY (tenant, name, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policy_stamps (tenant TEXT PRIMARY KEY, stamp INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage (
    tenant TEXT NOT NULL, agent TEXT NOT NULL, minute INTEGER NOT NULL,
    {", ".join(f"{m} INTEGER NOT NULL DEFAULT 0" for m in METRICS)},
    PRIMARY KEY (tenant, agent, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS approvals (
    tenant TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, requested_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS approvals_due ON approvals (status, expires_us);
"""

_USAGE_UPSERT = (
    f"INSERT INTO usage (tenant, agent, minute, {', '.join(METRICS)}) VALUES (?, ?, ?, {', '.join('?' * len(METRICS))})"
    f" ON CONFLICT (tenant, agent, minute) DO UPDATE SET "
    + ", ".join(f"{m} = {m} + excluded.{m}" for m in METRICS)
)


def _us(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


class SqliteAuditLog(AuditLog):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.add_schema(SCHEMA)

    async def append(self, tenant: str, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        # The appends of a tenant queued for one group commit join one operation: the head is read and moved
        # once for all of them, in the order they were made.
        done, index = self._db.join(("audit", tenant), [e.fields() for e in entries],
                                    lambda conn, appends: _chain(conn, tenant, appends))
        return (await done)[index]

    async def head(self, tenant: str) -> tuple[int, str]:
        row = await self._db.read(
            lambda c: c.execute("SELECT seq, hash FROM audit_heads WHERE tenant = ?", (tenant,)).fetchone())
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    async def page(
        self, tenant: str, *, before: int | None = None, limit: int = 50, kind: str | None = None,
        action_prefix: str | None = None, agent_id: str | None = None,
    ) -> list[AuditRecord]:
        sql = "SELECT record FROM audit WHERE tenant = ?"
        args: list[object] = [tenant]
        if before is not None:
            sql, args = sql + " AND seq < ?", [*args, before]
        if kind:
            sql, args = sql + " AND kind = ?", [*args, kind]
        if agent_id:
            sql, args = sql + " AND agent_id = ?", [*args, agent_id]
        if action_prefix:
            sql, args = sql + " AND substr(action, 1, ?) = ?", [*args, len(action_prefix), action_prefix]
        sql += " ORDER BY seq DESC LIMIT ?"
        rows = await self._db.read(lambda c: c.execute(sql, [*args, limit]).fetchall())
        return [AuditRecord.model_validate_json(r[0]) for r in rows]

    async def scan(self, tenant: str, *, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        sql = "SELECT record FROM audit WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?"
        rows = await self._db.read(lambda c: c.execute(sql, (tenant, after, limit)).fetchall())
        return [AuditRecord.model_validate_json(r[0]) for r in rows]


def _add_usage(conn: sqlite3.Connection, adds: list[tuple[tuple[str, str, int], list[int]]]) -> list[None]:
    sums: dict[tuple[str, str, int], list[int]] = {}
    for (tenant, agent_id, m), values in adds:
        for row in ((tenant, agent_id, m), (tenant, "*", m)):
            total = sums.get(row)
            sums[row] = list(values) if total is None else [a + b for a, b in zip(total, values)]
    conn.executemany(_USAGE_UPSERT, [(*row, *values) for row, values in sums.items()])
    return [None] * len(adds)


def _chain(conn: sqlite3.Connection, tenant: str, appends: list[list[dict[str, Any]]]) -> list[list[AuditRecord]]:
    row = conn.execute("SELECT seq, hash FROM audit_heads WHERE tenant = ?", (tenant,)).fetchone()
    seq, prev = row if row else (0, GENESIS)
    out = []
    for fields in appends:
        records = chain_records(tenant, seq, prev, fields)
        if records:
            seq, prev = records[-1].seq, records[-1].hash
        out.append(records)
    rows = [(tenant, r.seq, r.kind, r.action, r.agent_id, r.model_dump_json()) for records in out for r in records]
    if rows:
        conn.executemany(
            "INSERT INTO audit (tenant, seq, kind, action, agent_id, record) VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("INSERT INTO audit_heads (tenant, seq, hash) VALUES (?, ?, ?) ON CONFLICT (tenant)"
                     " DO UPDATE SET seq = excluded.seq, hash = excluded.hash", (tenant, seq, prev))
    return out


class SqlitePolicyStore(PolicyStore):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.add_schema(SCHEMA)

    async def put(self, record: PolicyRecord, expected_version: int | None = None) -> PolicyRecord:
        def op(conn: sqlite3.Connection) -> PolicyRecord:
            row = conn.execute("SELECT max(version) FROM policies WHERE tenant = ? AND name = ?",
                               (record.tenant, record.name)).fetchone()
            latest = int(row[0] or 0)
            if expected_version is not None and expected_version != latest:
                raise VersionConflict(f"policy '{record.name}' is at version {latest}, not {expected_version}",
                                      policy=record.name)
            stored = record.model_copy(update={"version": latest + 1})
            conn.execute("INSERT INTO policies (tenant, name, version, deleted, record) VALUES (?, ?, ?, ?, ?)",
                         (stored.tenant, stored.name, stored.version, int(stored.deleted),
                          stored.model_dump_json()))
            conn.execute("INSERT INTO policy_stamps (tenant, stamp) VALUES (?, 1) ON CONFLICT (tenant)"
                         " DO UPDATE SET stamp = stamp + 1", (stored.tenant,))
            return stored

        return await self._db.write(op)

    async def get(self, tenant: str, name: str, version: int | None = None) -> PolicyRecord:
        if version is None:
            sql = "SELECT record, deleted FROM policies WHERE tenant = ? AND name = ? ORDER BY version DESC LIMIT 1"
            args: tuple[object, ...] = (tenant, name)
        else:
            sql = "SELECT record, 0 FROM policies WHERE tenant = ? AND name = ? AND version = ?"
            args = (tenant, name, version)
        row = await self._db.read(lambda c: c.execute(sql, args).fetchone())
        if row is None or row[1]:
            what = f"policy '{name}'" + (f" version {version}" if version is not None else "")
            raise NotFound(f"{what} does not exist in this tenant", policy=name)
        return PolicyRecord.model_validate_json(row[0], context=STORED)

    async def delete(self, tenant: str, name: str, when: datetime, by: str = "") -> bool:
        try:
            live = await self.get(tenant, name)
        except NotFound:
            return False
        try:
            await self.put(live.model_copy(update={"deleted": True, "updated_at": when, "updated_by": by}),
                           expected_version=live.version)
        except VersionConflict:
            return await self.delete(tenant, name, when, by)
        return True

    async def list(self, tenant: str) -> list[PolicyRecord]:
        sql = ("SELECT p.record FROM policies p JOIN (SELECT name, max(version) v FROM policies WHERE tenant = ?"
               " GROUP BY name) l ON p.name = l.name AND p.version = l.v WHERE p.tenant = ? AND p.deleted = 0"
               " ORDER BY p.name")
        rows = await self._db.read(lambda c: c.execute(sql, (tenant, tenant)).fetchall())
        return [PolicyRecord.model_validate_json(r[0], context=STORED) for r in rows]

    async def versions(self, tenant: str, name: str) -> builtins.list[PolicyRecord]:
        sql = "SELECT record FROM policies WHERE tenant = ? AND name = ? ORDER BY version"
        rows = await self._db.read(lambda c: c.execute(sql, (tenant, name)).fetchall())
        return [PolicyRecord.model_validate_json(r[0], context=STORED) for r in rows]

    async def stamp(self, tenant: str) -> int:
        row = await self._db.read(
            lambda c: c.execute("SELECT stamp FROM policy_stamps WHERE tenant = ?", (tenant,)).fetchone())
        return int(row[0]) if row else 0


class SqliteUsageCounter(UsageCounter):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.add_schema(SCHEMA)

    async def add(self, tenant: str, agent_id: str, deltas: dict[str, int], at: datetime) -> None:
        values = [int(deltas.get(m, 0)) for m in METRICS]
        # the additions queued for one group commit join one operation: each row (the tenant's `*` row above
        # all) is upserted once with their sums
        done, _ = self._db.join("usage", ((tenant, agent_id, minute(at)), values), _add_usage)
        await done

    async def totals(self, tenant: str, agent_id: str | None, since: datetime) -> dict[str, int]:
        sql = (f"SELECT {', '.join(f'coalesce(sum({m}), 0)' for m in METRICS)} FROM usage"
               " WHERE tenant = ? AND agent = ? AND minute >= ?")
        row = await self._db.read(lambda c: c.execute(sql, (tenant, agent_id or "*", minute(since))).fetchone())
        return {m: int(v) for m, v in zip(METRICS, row) if v}

    async def prune(self, before: datetime) -> int:
        return int(await self._db.write(
            lambda c: c.execute("DELETE FROM usage WHERE minute < ?", (minute(before),)).rowcount))


class SqliteApprovalStore(ApprovalStore):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.add_schema(SCHEMA)

    async def park(self, approval: Approval) -> Approval:
        row = (approval.tenant, approval.id, approval.status.value, _us(approval.requested_at),
               _us(approval.expires_at), approval.model_dump_json())

        def op(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT INTO approvals (tenant, id, status, requested_us, expires_us, record)"
                         " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", row)
            found = conn.execute("SELECT record FROM approvals WHERE tenant = ? AND id = ?",
                                 (approval.tenant, approval.id)).fetchone()
            return str(found[0])

        return Approval.model_validate_json(await self._db.write(op))

    def _load(self, conn: sqlite3.Connection, tenant: str, approval_id: str) -> Approval:
        found = conn.execute("SELECT record FROM approvals WHERE tenant = ? AND id = ?",
                             (tenant, approval_id)).fetchone()
        if found is None:
            raise NotFound(f"approval '{approval_id}' does not exist in this tenant", approval_id=approval_id)
        return Approval.model_validate_json(found[0])

    def _store(self, conn: sqlite3.Connection, a: Approval) -> None:
        conn.execute("UPDATE approvals SET status = ?, record = ? WHERE tenant = ? AND id = ?",
                     (a.status.value, a.model_dump_json(), a.tenant, a.id))

    async def get(self, tenant: str, approval_id: str) -> Approval:
        return await self._db.read(lambda c: self._load(c, tenant, approval_id))

    async def decide(self, tenant: str, approval_id: str, status: str, by: str, note: str | None,
                     at: datetime) -> Approval:
        def op(conn: sqlite3.Connection) -> Approval:
            current = self._load(conn, tenant, approval_id)
            if current.status is not ApprovalStatus.PENDING:
                raise Conflict(f"approval '{approval_id}' is already {current.status.value}",
                               approval_id=approval_id, current=current.status.value)
            updated = current.model_copy(update={"status": ApprovalStatus(status), "decided_by": by,
                                                 "note": note, "decided_at": at})
            self._store(conn, updated)
            return updated

        return await self._db.write(op)

    async def mark_applied(self, tenant: str, approval_id: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            self._store(conn, self._load(conn, tenant, approval_id).model_copy(update={"applied": True}))

        await self._db.write(op)

    async def list(self, tenant: str, *, status: str | None = None, limit: int = 100) -> list[Approval]:
        sql, args = "SELECT record FROM approvals WHERE tenant = ?", [tenant]
        if status:
            sql, args = sql + " AND status = ?", [*args, status]
        sql += " ORDER BY requested_us DESC, id DESC LIMIT ?"
        rows = await self._db.read(lambda c: c.execute(sql, [*args, limit]).fetchall())
        return [Approval.model_validate_json(r[0]) for r in rows]

    async def due(self, now: datetime, limit: int = 100) -> builtins.list[Approval]:
        sql = ("SELECT record FROM approvals WHERE status = 'pending' AND expires_us <= ?"
               " ORDER BY expires_us LIMIT ?")
        rows = await self._db.read(lambda c: c.execute(sql, (_us(now), limit)).fetchall())
        return [Approval.model_validate_json(r[0]) for r in rows]


def sqlite_governance(db: SqliteDatabase) -> Governance:
    return Governance(SqliteAuditLog(db), SqlitePolicyStore(db), SqliteUsageCounter(db), SqliteApprovalStore(db))


__all__ = ["SqliteApprovalStore", "SqliteAuditLog", "SqlitePolicyStore", "SqliteUsageCounter",
           "sqlite_governance"]
