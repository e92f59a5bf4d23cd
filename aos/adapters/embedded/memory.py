"""In-memory adapters of the ports: for tests, demos and `open_memory()`.

They follow the same contracts as the SQLite adapters (the contract suite runs on both) and copy records in
and out (or round-trip them through JSON), so a caller mutating an object it passed or got back cannot change
what is stored, exactly as with a real database.

Limitations: not durable (a restart loses everything), one process, one event loop. Methods never await while
touching the dicts, so each call is atomic under asyncio without locks; they are not thread-safe. `due` and
`keys_with_work` scan every agent (fine for tests, not for 100,000 agents).
"""

from __future__ import annotations

import bisect
import builtins
import json
from datetime import datetime
from typing import Any

from aos.adapters.embedded.blobs import MemoryBlobStore
from aos.adapters.embedded.common import (
    check_limit,
    decode_cursor,
    encode_cursor,
    json_copy,
    micros,
    response_from_json,
    response_json,
    type_patterns,
    version_conflict,
)
from aos.adapters.embedded.memory_mailbox import MemoryMailbox
from aos.errors import AgentExists, AgentNotFound, Conflict, NotFound
from aos.model import AgentRecord, AgentState, ApiKeyRecord
from aos.ports import AgentRegistry, IdempotencyStore, IdempotentResponse, KeyStore, StateStore

__all__ = [
    "MemoryAgentRegistry",
    "MemoryBlobStore",
    "MemoryIdempotencyStore",
    "MemoryKeyStore",
    "MemoryMailbox",
    "MemoryStateStore",
]


class MemoryAgentRegistry(AgentRegistry):
    """Records per (tenant, id), a sorted id list per tenant for paging, and a (tenant, pattern) index."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], AgentRecord] = {}
        self._ids: dict[str, list[str]] = {}
        self._subs: dict[tuple[str, str], set[str]] = {}

    async def create(self, record: AgentRecord) -> AgentRecord:
        if (record.tenant, record.id) in self._records:
            raise AgentExists(record.id)
        stored = record.model_copy(update={"version": 1}, deep=True)
        self._records[(stored.tenant, stored.id)] = stored
        bisect.insort(self._ids.setdefault(stored.tenant, []), stored.id)
        self._index(stored, add=True)
        return stored.model_copy(deep=True)

    async def get(self, tenant: str, agent_id: str) -> AgentRecord:
        try:
            return self._records[(tenant, agent_id)].model_copy(deep=True)
        except KeyError:
            raise AgentNotFound(tenant, agent_id) from None

    async def update(self, record: AgentRecord) -> AgentRecord:
        current = self._records.get((record.tenant, record.id))
        if current is None:
            raise AgentNotFound(record.tenant, record.id)
        if current.version != record.version:
            raise version_conflict(
                f"agent '{record.id}'", record.version, current.version, agent_id=record.id
            )
        stored = record.model_copy(update={"version": record.version + 1}, deep=True)
        self._index(current, add=False)
        self._records[(stored.tenant, stored.id)] = stored
        self._index(stored, add=True)
        return stored.model_copy(deep=True)

    async def delete(self, tenant: str, agent_id: str) -> bool:
        current = self._records.pop((tenant, agent_id), None)
        if current is None:
            return False
        ids = self._ids[tenant]
        del ids[bisect.bisect_left(ids, agent_id)]
        self._index(current, add=False)
        return True

    def _index(self, record: AgentRecord, *, add: bool) -> None:
        for pattern in {s.type for s in record.spec.subscriptions}:
            members = self._subs.setdefault((record.tenant, pattern), set())
            if add:
                members.add(record.id)
            else:
                members.discard(record.id)

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
        ids = self._ids.get(tenant, [])
        start = bisect.bisect_right(ids, decode_cursor(cursor)) if cursor else 0
        want = (labels or {}).items()
        page: list[AgentRecord] = []
        for agent_id in ids[start:]:
            record = self._records[(tenant, agent_id)]
            if state is not None and record.state != state:
                continue
            if any(record.spec.labels.get(k) != v for k, v in want):
                continue
            if len(page) == limit:
                return page, encode_cursor(page[-1].id)
            page.append(record.model_copy(deep=True))
        return page, None

    async def subscribers(self, tenant: str, event_type: str) -> builtins.list[AgentRecord]:
        ids: set[str] = set()
        for pattern in type_patterns(event_type):
            ids |= self._subs.get((tenant, pattern), set())
        return [self._records[(tenant, i)].model_copy(deep=True) for i in sorted(ids)]

    async def due(self, now: datetime, limit: int = 100) -> builtins.list[AgentRecord]:
        check_limit(limit)
        cutoff = micros(now)
        found = [
            (micros(r.next_wake_at), r.tenant, r.id)
            for r in self._records.values()
            if r.state == AgentState.ACTIVE
            and r.next_wake_at is not None
            and micros(r.next_wake_at) <= cutoff
        ]
        return [self._records[(t, i)].model_copy(deep=True) for _, t, i in sorted(found)[:limit]]

    async def count(self) -> int:
        return len(self._records)


class MemoryStateStore(StateStore):
    """State held as JSON text, so values are copied and non-JSON values fail as they would on disk."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[str, int]] = {}

    async def get(self, key: str) -> tuple[dict[str, Any], int]:
        raw, version = self._state.get(key, ("{}", 0))
        return json.loads(raw), version

    async def put(self, key: str, value: dict[str, Any], expected_version: int) -> int:
        raw = json_copy(value, "agent state")
        current = self._state.get(key, ("{}", 0))[1]
        if current != expected_version:
            raise version_conflict(f"state of '{key}'", expected_version, current, key=key)
        self._state[key] = (raw, current + 1)
        return current + 1

    async def delete(self, key: str) -> bool:
        return self._state.pop(key, None) is not None


class MemoryKeyStore(KeyStore):
    def __init__(self) -> None:
        self._keys: dict[str, ApiKeyRecord] = {}

    async def add(self, record: ApiKeyRecord) -> None:
        if record.id in self._keys:
            raise Conflict(
                f"API key id '{record.id}' already exists; issue the key with a new id", key_id=record.id
            )
        self._keys[record.id] = record.model_copy(deep=True)

    async def by_hash(self, secret_hash: str) -> ApiKeyRecord | None:
        for record in self._keys.values():
            if record.secret_hash == secret_hash:
                return record.model_copy(deep=True)
        return None

    async def revoke(self, tenant: str, key_id: str, when: datetime) -> ApiKeyRecord:
        record = self._keys.get(key_id)
        if record is None or record.tenant != tenant:
            raise NotFound(f"API key '{key_id}' does not exist in this tenant", key_id=key_id)
        if record.revoked_at is None:
            record = self._keys[key_id] = record.model_copy(update={"revoked_at": when})
        return record.model_copy(deep=True)

    async def list(self, tenant: str) -> list[ApiKeyRecord]:
        mine = [r for r in self._keys.values() if r.tenant == tenant]
        return [r.model_copy(deep=True) for r in sorted(mine, key=lambda r: (micros(r.created_at), r.id))]


class MemoryIdempotencyStore(IdempotencyStore):
    def __init__(self) -> None:
        self._responses: dict[tuple[str, str], str] = {}

    async def get(self, scope: str, key: str) -> IdempotentResponse | None:
        raw = self._responses.get((scope, key))
        return response_from_json(raw) if raw is not None else None

    async def put(self, scope: str, key: str, response: IdempotentResponse) -> IdempotentResponse:
        raw = response_json(response)
        return response_from_json(self._responses.setdefault((scope, key), raw))
