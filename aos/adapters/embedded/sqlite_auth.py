"""KeyStore and IdempotencyStore on SQLite.

Keys: looked up by hash through an index (a request's bearer token is hashed, then found in one probe).
`revoke` keeps the first `revoked_at`. Idempotency: first writer wins through the primary key; entries are
kept until the database is deleted (the port has no expiry).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import cast

from aos.adapters.embedded.common import micros, response_from_json, response_json
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.errors import Conflict, NotFound
from aos.model import ApiKeyRecord
from aos.ports import IdempotencyStore, IdempotentResponse, KeyStore

KEYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    record TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS api_keys_hash ON api_keys (secret_hash);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant, created_us, id);
"""

IDEMPOTENCY_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
"""


class SqliteKeyStore(KeyStore):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.add_schema(KEYS_SCHEMA)

    async def add(self, record: ApiKeyRecord) -> None:
        row = (
            record.id,
            record.tenant,
            record.secret_hash,
            micros(record.created_at),
            record.model_dump_json(),
        )

        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "INSERT INTO api_keys (id, tenant, secret_hash, created_us, record) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                row,
            )
            if cur.rowcount == 0:
                raise Conflict(
                    f"API key id '{record.id}' already exists; issue the key with a new id", key_id=record.id
                )

        await self._db.write(op)

    async def by_hash(self, secret_hash: str) -> ApiKeyRecord | None:
        query = "SELECT record FROM api_keys WHERE secret_hash = ? LIMIT 1"
        row = await self._db.read(lambda conn: conn.execute(query, (secret_hash,)).fetchone())
        return ApiKeyRecord.model_validate_json(row[0]) if row else None

    async def revoke(self, tenant: str, key_id: str, when: datetime) -> ApiKeyRecord:
        def op(conn: sqlite3.Connection) -> str:
            row = conn.execute(
                "SELECT record FROM api_keys WHERE id = ? AND tenant = ?", (key_id, tenant)
            ).fetchone()
            if row is None:
                raise NotFound(f"API key '{key_id}' does not exist in this tenant", key_id=key_id)
            record = ApiKeyRecord.model_validate_json(row[0])
            if record.revoked_at is not None:
                return cast(str, row[0])
            raw = record.model_copy(update={"revoked_at": when}).model_dump_json()
            conn.execute("UPDATE api_keys SET record = ? WHERE id = ?", (raw, key_id))
            return raw

        return ApiKeyRecord.model_validate_json(await self._db.write(op))

    async def list(self, tenant: str) -> list[ApiKeyRecord]:
        query = "SELECT record FROM api_keys WHERE tenant = ? ORDER BY created_us, id"
        rows = await self._db.read(lambda conn: conn.execute(query, (tenant,)).fetchall())
        return [ApiKeyRecord.model_validate_json(r[0]) for r in rows]


class SqliteIdempotencyStore(IdempotencyStore):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.add_schema(IDEMPOTENCY_SCHEMA)

    async def get(self, scope: str, key: str) -> IdempotentResponse | None:
        query = "SELECT response FROM idempotency WHERE scope = ? AND key = ?"
        row = await self._db.read(lambda conn: conn.execute(query, (scope, key)).fetchone())
        return response_from_json(row[0]) if row else None

    async def put(self, scope: str, key: str, response: IdempotentResponse) -> IdempotentResponse:
        raw = response_json(response)

        def op(conn: sqlite3.Connection) -> str:
            conn.execute(
                "INSERT INTO idempotency (scope, key, response) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (scope, key, raw),
            )
            row = conn.execute(
                "SELECT response FROM idempotency WHERE scope = ? AND key = ?", (scope, key)
            ).fetchone()
            return str(row[0])

        return response_from_json(await self._db.write(op))
