"""StateStore on SQLite: one JSON object per agent key, compare-and-set on a version column.

After `delete` the version starts again at 0 (the contract's "never wrote" state).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from aos.adapters.embedded.common import json_copy, version_conflict
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.ports import StateStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
"""


class SqliteStateStore(StateStore):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.add_schema(SCHEMA)

    async def get(self, key: str) -> tuple[dict[str, Any], int]:
        query = "SELECT value, version FROM agent_state WHERE key = ?"
        row = await self._db.read(lambda conn: conn.execute(query, (key,)).fetchone())
        return ({}, 0) if row is None else (json.loads(row[0]), int(row[1]))

    async def put(self, key: str, value: dict[str, Any], expected_version: int) -> int:
        raw = json_copy(value, "agent state")

        def op(conn: sqlite3.Connection) -> None:
            if expected_version == 0:
                cur = conn.execute(
                    "INSERT INTO agent_state (key, value, version) VALUES (?, ?, 1) ON CONFLICT DO NOTHING",
                    (key, raw),
                )
            else:
                cur = conn.execute(
                    "UPDATE agent_state SET value = ?, version = version + 1 WHERE key = ? AND version = ?",
                    (raw, key, expected_version),
                )
            if cur.rowcount == 0:
                row = conn.execute("SELECT version FROM agent_state WHERE key = ?", (key,)).fetchone()
                raise version_conflict(f"state of '{key}'", expected_version, row[0] if row else 0, key=key)

        await self._db.write(op)
        return expected_version + 1

    async def delete(self, key: str) -> bool:
        query = "DELETE FROM agent_state WHERE key = ?"
        return await self._db.write(lambda conn: conn.execute(query, (key,)).rowcount > 0)
