"""AgentRegistry on Azure Table Storage: the lighter option for small installs (no Cosmos account).

Layout (one table, default `aosagents`), everything of a tenant in its partition (PartitionKey = tenant):
- the agent row, RowKey `a|{agent_id}`: the record as chunked JSON (`codec`), `version`, `state`, `wakeAt`
  (microseconds since the epoch, -1 when none);
- one subscription index row per distinct type pattern, RowKey `s|{quoted pattern}|{agent_id}`.
Because rows of a tenant share a partition, create/update/delete write the agent row and its index rows in one
entity-group transaction: the index never disagrees with the record.

Concurrency: `update` and `delete` read the row, check `version`, and write with the row's etag (If-Match); a
412 means another writer won and surfaces as `VersionConflict`.

Limitations: `due` and `count` scan the agent rows of every tenant (server-side filter, continuation paging):
fine for the small installs this backend is for, not for 100,000 agents (use Cosmos). A transaction holds at
most 100 operations, so an agent may have at most 99 distinct subscription types here (`ValidationFailed`).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import EdmType, EntityProperty

from aos.adapters.azure.tables import codec
from aos.adapters.azure.tables.api import MAX_TRANSACTION_OPS, TableApi, TableOp
from aos.adapters.embedded.common import (
    check_limit,
    decode_cursor,
    encode_cursor,
    micros,
    type_patterns,
    version_conflict,
)
from aos.errors import AgentExists, AgentNotFound, StorageError, ValidationFailed
from aos.model import AgentRecord, AgentState
from aos.ports import AgentRegistry

AGENT = "a|"
SUB = "s|"
END = "~"  # sorts after every slug character and after '|'


def _row(agent_id: str) -> str:
    return AGENT + agent_id


def _sub_row(pattern: str, agent_id: str) -> str:
    return f"{SUB}{codec.key(pattern)}|{agent_id}"


class TableAgentRegistry(AgentRegistry):
    def __init__(self, api: TableApi, table: str = "aosagents") -> None:
        self.api = api
        self.table = table

    # ------------------------------------------------------------ rows

    def _entity(self, record: AgentRecord) -> dict[str, Any]:
        return {
            "PartitionKey": record.tenant,
            "RowKey": _row(record.id),
            "kind": "agent",
            "version": record.version,
            "state": record.state.value,
            "wakeAt": EntityProperty(micros(record.next_wake_at) if record.next_wake_at else -1, EdmType.INT64),
            **codec.pack(record.model_dump_json(), f"agent '{record.id}'"),
        }

    def _sub_ops(self, record: AgentRecord, kind: str, patterns: set[str]) -> list[TableOp]:
        return [TableOp(kind, {"PartitionKey": record.tenant, "RowKey": _sub_row(p, record.id),  # type: ignore[arg-type]
                               "kind": "sub", "agent": record.id}) for p in sorted(patterns)]

    @staticmethod
    def _patterns(record: AgentRecord) -> set[str]:
        return {s.type for s in record.spec.subscriptions}

    async def _read(self, tenant: str, agent_id: str) -> tuple[AgentRecord, str]:
        try:
            entity, etag = await self.api.get(tenant, _row(agent_id))
        except ResourceNotFoundError:
            raise AgentNotFound(tenant, agent_id) from None
        return AgentRecord.model_validate(codec.unpack(entity)), etag

    async def _submit(self, ops: list[TableOp], what: str) -> None:
        if len(ops) > MAX_TRANSACTION_OPS:
            raise ValidationFailed(f"{what}: the Table registry holds at most {MAX_TRANSACTION_OPS - 1} distinct "
                                   "subscription types per agent; use fewer (globs) or the Cosmos backend")
        await self.api.submit(ops)

    def _failed(self, what: str, e: AzureError) -> StorageError:
        return StorageError(f"table {what} failed [table={self.table}]: {e}")

    # ------------------------------------------------------------ port

    async def create(self, record: AgentRecord) -> AgentRecord:
        stored = record.model_copy(update={"version": 1}, deep=True)
        ops = [TableOp("create", self._entity(stored)), *self._sub_ops(stored, "upsert", self._patterns(stored))]
        try:
            await self._submit(ops, f"agent '{record.id}'")
        except ResourceExistsError:
            raise AgentExists(record.id) from None
        except AzureError as e:
            raise self._failed(f"create of agent '{record.key}'", e) from e
        return stored

    async def get(self, tenant: str, agent_id: str) -> AgentRecord:
        try:
            return (await self._read(tenant, agent_id))[0]
        except AzureError as e:
            raise self._failed(f"read of agent '{tenant}/{agent_id}'", e) from e

    async def update(self, record: AgentRecord) -> AgentRecord:
        try:
            current, etag = await self._read(record.tenant, record.id)
            if current.version != record.version:
                raise version_conflict(f"agent '{record.id}'", record.version, current.version, agent_id=record.id)
            stored = record.model_copy(update={"version": record.version + 1}, deep=True)
            old, new = self._patterns(current), self._patterns(stored)
            ops = [TableOp("replace", self._entity(stored), etag),
                   *self._sub_ops(stored, "delete", old - new), *self._sub_ops(stored, "upsert", new - old)]
            await self._submit(ops, f"agent '{record.id}'")
        except (ResourceModifiedError, ResourceNotFoundError):
            latest = await self.get(record.tenant, record.id)
            raise version_conflict(f"agent '{record.id}'", record.version, latest.version,
                                   agent_id=record.id) from None
        except AzureError as e:
            raise self._failed(f"update of agent '{record.key}'", e) from e
        return stored

    async def delete(self, tenant: str, agent_id: str) -> bool:
        for _ in range(5):
            try:
                current, etag = await self._read(tenant, agent_id)
            except AgentNotFound:
                return False
            except AzureError as e:
                raise self._failed(f"read of agent '{tenant}/{agent_id}'", e) from e
            ops = [TableOp("delete", self._entity(current), etag),
                   *self._sub_ops(current, "delete", self._patterns(current))]
            try:
                await self._submit(ops, f"agent '{agent_id}'")
                return True
            except (ResourceModifiedError, ResourceNotFoundError):
                continue  # changed (or gone) underneath: read again
            except AzureError as e:
                raise self._failed(f"delete of agent '{tenant}/{agent_id}'", e) from e
        raise StorageError(f"agent '{tenant}/{agent_id}' kept changing during delete; retry")

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
        start = _row(decode_cursor(cursor)) if cursor else AGENT
        query = "PartitionKey eq @t and RowKey gt @start and RowKey lt @end"
        params: dict[str, Any] = {"t": tenant, "start": start, "end": AGENT + END}
        if state is not None:
            query += " and state eq @state"
            params["state"] = state.value
        want = (labels or {}).items()
        page: list[AgentRecord] = []
        try:
            async for entity in self.api.query(query, params, page_size=min(1000, limit + 1)):
                record = AgentRecord.model_validate(codec.unpack(entity))
                if any(record.spec.labels.get(k) != v for k, v in want):
                    continue
                if len(page) == limit:
                    return page, encode_cursor(page[-1].id)
                page.append(record)
        except AzureError as e:
            raise self._failed(f"list of tenant '{tenant}'", e) from e
        return page, None

    async def subscribers(self, tenant: str, event_type: str) -> builtins.list[AgentRecord]:
        ids: set[str] = set()
        try:
            for pattern in type_patterns(event_type):
                prefix = f"{SUB}{codec.key(pattern)}|"
                params = {"t": tenant, "lo": prefix, "hi": prefix + END}
                async for entity in self.api.query("PartitionKey eq @t and RowKey gt @lo and RowKey lt @hi",
                                                   params, select=["agent"]):
                    ids.add(str(entity["agent"]))
            found = []
            for agent_id in sorted(ids):
                try:
                    found.append((await self._read(tenant, agent_id))[0])
                except AgentNotFound:
                    continue  # deleted between the index read and the record read
        except AzureError as e:
            raise self._failed(f"subscriber lookup '{tenant}:{event_type}'", e) from e
        return found

    async def due(self, now: datetime, limit: int = 100) -> builtins.list[AgentRecord]:
        check_limit(limit)
        params = {"kind": "agent", "state": AgentState.ACTIVE.value, "now": micros(now)}
        found: list[tuple[int, str, str, AgentRecord]] = []
        try:
            async for e in self.api.query("kind eq @kind and state eq @state and wakeAt ge 0L and wakeAt le @now",
                                          params, page_size=1000):
                record = AgentRecord.model_validate(codec.unpack(e))
                found.append((micros(record.next_wake_at or now), record.tenant, record.id, record))
        except AzureError as e:
            raise self._failed("due scan", e) from e
        found.sort(key=lambda t: t[:3])
        return [r for *_, r in found[:limit]]

    async def count(self) -> int:
        n = 0
        try:
            async for _ in self.api.query("kind eq @kind", {"kind": "agent"}, page_size=1000, select=["RowKey"]):
                n += 1
        except AzureError as e:
            raise self._failed("count", e) from e
        return n
