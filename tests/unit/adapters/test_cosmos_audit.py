"""The Cosmos audit chain on real Cosmos's path (transactional batch), with a fake at the SDK seam: the emulator
has no batch. The fake commits a batch all or nothing, checks `ifMatch` etags and 409s like the service, and
yields to the event loop inside every call, so appenders on different instances really interleave."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from azure.cosmos.exceptions import CosmosHttpResponseError

from aos.adapters.azure.cosmos import Cosmos, CosmosApi
from aos.adapters.azure.cosmos.client import BatchOp, Doc
from aos.adapters.azure.cosmos.governance import CosmosAuditLog
from aos.governance_model import GENESIS, audit_hash
from aos.ports import AuditEntry

pytestmark = pytest.mark.anyio


def _error(status: int) -> CosmosHttpResponseError:
    return CosmosHttpResponseError(status_code=status, message=f"fake {status}")


class BatchCosmosApi(CosmosApi):
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Doc] = {}
        self.batches: list[list[str]] = []
        self.failed_batches = 0
        self._etag = 0

    def _store(self, pk: str, doc: Doc) -> Doc:
        self._etag += 1
        self.items[(pk, doc["id"])] = {**doc, "_etag": f"e{self._etag}"}
        return dict(self.items[(pk, doc["id"])])

    async def read(self, container: str, item_id: str, pk: str) -> Doc:
        await asyncio.sleep(0)
        if (pk, item_id) not in self.items:
            raise _error(404)
        return dict(self.items[(pk, item_id)])

    async def create(self, container: str, doc: Doc) -> Doc:
        raise AssertionError("with a batch, the audit log writes only in batches")

    async def batch(self, container: str, pk: str, operations: Sequence[BatchOp]) -> list[Doc]:
        await asyncio.sleep(0)
        self.batches.append([op[0] for op in operations])
        for op in operations:  # check everything first: all or nothing
            kind, args, kwargs = op[0], op[1], (op[2] if len(op) > 2 else {})
            doc_id = args[0]["id"] if kind == "create" else args[0]
            current = self.items.get((pk, doc_id))
            if (kind == "create" and current is not None) or (
                    kind == "replace" and (current is None or current["_etag"] != kwargs.get("if_match_etag"))):
                self.failed_batches += 1
                raise _error(409 if kind == "create" else 412)
        return [self._store(pk, op[1][0] if op[0] == "create" else op[1][1]) for op in operations]

    async def upsert(self, container: str, doc: Doc) -> Doc:
        raise NotImplementedError

    async def replace(self, container: str, doc: Doc, etag: str | None) -> Doc:
        raise NotImplementedError

    async def patch(self, container: str, item_id: str, pk: str, operations: list[Doc]) -> Doc:
        raise NotImplementedError

    async def delete(self, container: str, item_id: str, pk: str, etag: str | None) -> None:
        raise NotImplementedError

    async def query_page(self, *args: Any, **kwargs: Any) -> tuple[list[Any], str | None]:
        raise NotImplementedError


def entry(i: int) -> AuditEntry:
    return AuditEntry(ts="2025-01-01T00:00:00+00:00", kind="call", action=f"a.{i}")


async def test_instances_racing_on_one_tenant_retry_on_the_head_etag_and_never_fork() -> None:
    api = BatchCosmosApi()
    logs = [CosmosAuditLog(Cosmos(api)) for _ in range(5)]
    await asyncio.gather(*(log.append("acme", [entry(i), entry(i + 100)]) for i in range(4) for log in logs))
    assert api.failed_batches > 0  # they did race, and lost on the head's etag or a taken seq
    records = sorted((d for (pk, i), d in api.items.items() if i.startswith("r-")), key=lambda d: d["seq"])
    assert [d["seq"] for d in records] == list(range(1, 41))
    prev = GENESIS
    for d in records:
        fields = {k: v for k, v in d.items() if k not in ("id", "type", "_etag")}
        assert d["prev"] == prev and d["hash"] == audit_hash(fields, prev)
        prev = d["hash"]
    assert await logs[0].head("acme") == (40, prev)
    assert all(ops[0] in ("create", "replace") and set(ops[1:]) == {"create"} for ops in api.batches)


async def test_a_long_append_commits_in_chunks_of_at_most_100_operations() -> None:
    api = BatchCosmosApi()
    out = await CosmosAuditLog(Cosmos(api)).append("acme", [entry(i) for i in range(150)])
    assert [r.seq for r in out] == list(range(1, 151))
    assert [len(ops) for ops in api.batches] == [100, 52]
