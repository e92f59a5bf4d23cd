"""`AuditLog` on Cosmos DB: container `audit`, partition = tenant, one hash chain per partition.

Items of a tenant: a record `r-{seq:012d}` per link (the `AuditRecord` fields, flat, plus `type: "audit"`), and
the head `~head` (`type: "head"`, the last seq and hash). Record ids are derived from the seq, so two writers can
never both store a record at one seq: the second create is a 409.

Real Cosmos (transactional batch): an append reads the head, chains its records on it, and commits in ONE batch
the head (replace conditioned on the head's `_etag`, or create when the tenant has none) plus the record
creates. A concurrent appender makes the batch fail as a whole (412 on the head, or 409), and the append
re-reads the head and rebuilds its records: the chain never forks and head and records never disagree. Up to
99 records go in one batch; a longer append is committed in chunks of 99, each atomic, in order.

The emulator (no transactional batch): records first, then the head. Each record is created at head + 1, +2...;
a 409 means another writer holds that seq, so the append reads that record and chains on it instead (the
records stay one chain: a record exists only on top of the one before it). When its records are stored, the
append moves the head forward (conditioned on its `_etag`, never backwards). A crash between the records and
the head leaves the head *behind* the log: nothing is lost or forked, `head()` answers the stale head, and
`aos audit verify` reports "records past the head" (not a truncation) until the next append of the tenant
moves the head over them. A verify racing an in-flight append on the emulator may see the same.

Within one process, appends of one tenant are serialized by a lock, so CAS retries only happen between
instances. Limitation: one tenant's appends are bounded by one head write at a time (a few hundred per second
per tenant); tenants are independent partitions.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from aos.adapters.azure.cosmos.keys import AUDIT, audit_record_id
from aos.adapters.azure.cosmos.ops import BATCH_LIMIT, Cosmos, Exists, Missing, Stale
from aos.errors import StorageError
from aos.governance_model import GENESIS, AuditRecord, chain_record, chain_records
from aos.ports import AuditEntry, AuditLog

HEAD = "~head"
MAX_ATTEMPTS = 50
_FIELDS = tuple(AuditRecord.model_fields)


def _doc(record: AuditRecord) -> dict[str, Any]:
    return {"id": audit_record_id(record.seq), "type": "audit", **record.model_dump(mode="json")}


def _record(doc: dict[str, Any]) -> AuditRecord:
    return AuditRecord.model_validate({k: doc[k] for k in _FIELDS if k in doc})


def _head_doc(tenant: str, seq: int, hash_: str) -> dict[str, Any]:
    return {"id": HEAD, "tenant": tenant, "type": "head", "seq": seq, "hash": hash_}


class CosmosAuditLog(AuditLog):
    def __init__(self, cosmos: Cosmos) -> None:
        self._db = cosmos
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def append(self, tenant: str, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        fields = [e.fields() for e in entries]
        out: list[AuditRecord] = []
        async with self._locks[tenant]:
            if self._db.supports_batch:
                for i in range(0, len(fields), BATCH_LIMIT - 1):
                    out += await self._append_batch(tenant, fields[i : i + BATCH_LIMIT - 1])
            elif fields:
                out = await self._append_in_order(tenant, fields)
        return out

    async def _append_batch(self, tenant: str, fields: list[dict[str, Any]]) -> list[AuditRecord]:
        for attempt in range(MAX_ATTEMPTS):
            head = await self._db.read(AUDIT, HEAD, tenant)
            seq, prev = (head["seq"], head["hash"]) if head else (0, GENESIS)
            records = chain_records(tenant, seq, prev, fields)
            new_head = _head_doc(tenant, records[-1].seq, records[-1].hash)
            head_op = (("create", (new_head,)) if head is None
                       else ("replace", (HEAD, new_head), {"if_match_etag": head["_etag"]}))
            try:
                await self._db.batch(AUDIT, tenant, [head_op, *(("create", (_doc(r),)) for r in records)])
                return records
            except (Exists, Stale):  # another instance appended first: chain on its head
                await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise _contended(tenant)

    async def _append_in_order(self, tenant: str, fields: list[dict[str, Any]]) -> list[AuditRecord]:
        """The emulator's fallback: each record at the next free seq, then the head (see the module doc)."""
        seq, prev = await self.head(tenant)
        out: list[AuditRecord] = []
        skipped = 0
        while len(out) < len(fields):
            record = chain_record(tenant, seq + 1, prev, fields[len(out)])
            try:
                await self._db.create(AUDIT, _doc(record))
                out.append(record)
                seq, prev = record.seq, record.hash
            except Exists:  # another writer holds seq + 1: chain on its record
                taken = await self._db.read(AUDIT, audit_record_id(seq + 1), tenant)
                if taken is None:
                    raise StorageError(f"audit record {seq + 1} of tenant '{tenant}' conflicted but cannot be "
                                       "read; retry the append") from None
                seq, prev = int(taken["seq"]), str(taken["hash"])
                skipped += 1
                if skipped > 100 * MAX_ATTEMPTS:
                    raise _contended(tenant) from None
        await self._move_head(tenant, seq, prev)
        return out

    async def _move_head(self, tenant: str, seq: int, hash_: str) -> None:
        for _ in range(MAX_ATTEMPTS):
            head = await self._db.read(AUDIT, HEAD, tenant)
            if head is not None and int(head["seq"]) >= seq:
                return  # a later appender already moved it over our records
            try:
                if head is None:
                    await self._db.create(AUDIT, _head_doc(tenant, seq, hash_))
                else:
                    await self._db.replace(AUDIT, _head_doc(tenant, seq, hash_), head["_etag"])
                return
            except (Exists, Stale, Missing):
                continue
        raise _contended(tenant)

    async def head(self, tenant: str) -> tuple[int, str]:
        doc = await self._db.read(AUDIT, HEAD, tenant)
        return (int(doc["seq"]), str(doc["hash"])) if doc else (0, GENESIS)

    async def page(
        self, tenant: str, *, before: int | None = None, limit: int = 50, kind: str | None = None,
        action_prefix: str | None = None, agent_id: str | None = None,
    ) -> list[AuditRecord]:
        where = ["c.tenant = @pk", "c.type = 'audit'"]
        params: dict[str, Any] = {"@pk": tenant, "@n": limit}
        for cond, name, value in (("c.seq < @before", "@before", before), ("c.kind = @kind", "@kind", kind),
                                  ("c.agent_id = @agent", "@agent", agent_id),
                                  ("STARTSWITH(c.action, @prefix)", "@prefix", action_prefix)):
            if value is not None and value != "":
                where.append(cond)
                params[name] = value
        sql = f"SELECT TOP @n * FROM c WHERE {' AND '.join(where)} ORDER BY c.seq DESC"
        return [_record(d) for d in await self._db.query(AUDIT, sql, params, tenant)]

    async def scan(self, tenant: str, *, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        sql = "SELECT TOP @n * FROM c WHERE c.tenant = @pk AND c.type = 'audit' AND c.seq > @after ORDER BY c.seq"
        docs = await self._db.query(AUDIT, sql, {"@pk": tenant, "@n": limit, "@after": after}, tenant)
        return [_record(d) for d in docs]



def _contended(tenant: str) -> StorageError:
    return StorageError(f"audit append of tenant '{tenant}' lost {MAX_ATTEMPTS} races to other writers in a row: "
                        "retry the call (the audit container may be throttled or overloaded)")
