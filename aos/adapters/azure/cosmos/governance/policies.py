"""`PolicyStore` on Cosmos DB: container `agents` (partition = tenant), beside the tenant's agent records.

Each version of a policy is its own item `pol-{name}-{version:08d}` (`kind: "policy"`), never changed after it
is written; a delete writes a tombstone version. The id is derived from the version, so `put` is a create at
latest + 1 and a concurrent writer of the same version gets a 409: that is the compare-and-set behind
`expected_version` (and a plain `put` that loses simply takes the next version).

`stamp(tenant)` is the number of policy versions the tenant has ever stored (`SELECT VALUE COUNT(1)`, one
single-partition query): versions are only ever added, so the count changes with every put and delete, and no
separate counter item can drift from the versions (there is nothing to keep in step without a transaction).
Host instances revalidate their compiled policies against it every few seconds (`Governor`).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from aos.adapters.azure.cosmos.keys import AGENTS, policy_id
from aos.adapters.azure.cosmos.ops import Cosmos, Exists
from aos.errors import NotFound, VersionConflict
from aos.governance_model import STORED, PolicyRecord
from aos.ports import PolicyStore

_WHERE = "c.tenant = @pk AND c.kind = 'policy'"
MAX_ATTEMPTS = 10


def _doc(record: PolicyRecord) -> dict[str, Any]:
    return {"id": policy_id(record.name, record.version), "tenant": record.tenant, "kind": "policy",
            "name": record.name, "version": record.version, "deleted": record.deleted,
            "record": record.model_dump(mode="json")}


def _missing(name: str, version: int | None = None) -> NotFound:
    what = f"policy '{name}'" + (f" version {version}" if version is not None else "")
    return NotFound(f"{what} does not exist in this tenant", policy=name)


class CosmosPolicyStore(PolicyStore):
    def __init__(self, cosmos: Cosmos) -> None:
        self._db = cosmos

    async def _latest(self, tenant: str, name: str) -> dict[str, Any] | None:
        sql = f"SELECT TOP 1 * FROM c WHERE {_WHERE} AND c.name = @name ORDER BY c.version DESC"
        docs = await self._db.query(AGENTS, sql, {"@pk": tenant, "@name": name}, tenant)
        return docs[0] if docs else None

    async def put(self, record: PolicyRecord, expected_version: int | None = None) -> PolicyRecord:
        for _ in range(MAX_ATTEMPTS):
            latest_doc = await self._latest(record.tenant, record.name)
            latest = int(latest_doc["version"]) if latest_doc else 0
            if expected_version is not None and expected_version != latest:
                raise VersionConflict(f"policy '{record.name}' is at version {latest}, not {expected_version}",
                                      policy=record.name)
            stored = record.model_copy(update={"version": latest + 1})
            try:
                await self._db.create(AGENTS, _doc(stored))
                return stored
            except Exists:
                if expected_version is not None:
                    raise VersionConflict(f"policy '{record.name}' changed while it was written (not at version "
                                          f"{expected_version} any more)", policy=record.name) from None
        raise VersionConflict(f"policy '{record.name}' is being changed by others; retry", policy=record.name)

    async def get(self, tenant: str, name: str, version: int | None = None) -> PolicyRecord:
        if version is not None:
            doc = await self._db.read(AGENTS, policy_id(name, version), tenant)
        else:
            doc = await self._latest(tenant, name)
            doc = None if doc is None or doc["deleted"] else doc
        if doc is None:
            raise _missing(name, version)
        return PolicyRecord.model_validate(doc["record"], context=STORED)

    async def delete(self, tenant: str, name: str, when: datetime, by: str = "") -> bool:
        for _ in range(MAX_ATTEMPTS):
            try:
                live = await self.get(tenant, name)
            except NotFound:
                return False
            try:
                await self.put(live.model_copy(update={"deleted": True, "updated_at": when, "updated_by": by}),
                               expected_version=live.version)
                return True
            except VersionConflict:
                continue
        raise VersionConflict(f"policy '{name}' is being changed by others; retry", policy=name)

    async def list(self, tenant: str) -> list[PolicyRecord]:
        """The latest version of each name from a small projection, then a point read per live policy."""
        sql = f"SELECT c.name, c.version, c.deleted FROM c WHERE {_WHERE}"
        latest: dict[str, dict[str, Any]] = {}
        for row in await self._db.query(AGENTS, sql, {"@pk": tenant}, tenant):
            if row["name"] not in latest or row["version"] > latest[row["name"]]["version"]:
                latest[row["name"]] = row
        out = []
        for name in sorted(latest):
            if not latest[name]["deleted"]:
                doc = await self._db.read(AGENTS, policy_id(name, latest[name]["version"]), tenant)
                if doc is not None:
                    out.append(PolicyRecord.model_validate(doc["record"], context=STORED))
        return out

    async def versions(self, tenant: str, name: str) -> builtins.list[PolicyRecord]:
        sql = f"SELECT * FROM c WHERE {_WHERE} AND c.name = @name ORDER BY c.version"
        docs = await self._db.query(AGENTS, sql, {"@pk": tenant, "@name": name}, tenant)
        return [PolicyRecord.model_validate(d["record"], context=STORED) for d in docs]

    async def stamp(self, tenant: str) -> int:
        rows = await self._db.query(AGENTS, f"SELECT VALUE COUNT(1) FROM c WHERE {_WHERE}", {"@pk": tenant}, tenant)
        return int(sum(rows))
