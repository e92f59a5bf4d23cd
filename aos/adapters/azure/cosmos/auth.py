"""`KeyStore` and `IdempotencyStore` on Cosmos DB.

API keys live in container `agents` under the fixed partition `~apikeys`: `by_hash` is asked with a hash and no
tenant (that is how a bearer token is authenticated), so all keys share one partition and the lookup is one
single-partition query on the indexed `secretHash`. The key count is small (people and agents, not events), far
from a partition's 20 GB / 10,000 RU/s. Id: `k-{key id}`, so a duplicate key id is a 409 → `Conflict`.

Idempotent responses live in `runtime` under `~idem/{scope}` (one partition per scope, e.g. per tenant and
route), id `i-{key}`: `put` is a create, and a 409 returns what the first writer stored. Records do not expire
yet (a container TTL would do it; infra does not set one).
"""

from __future__ import annotations

import json
from datetime import datetime

from aos.adapters.azure.cosmos.keys import AGENTS, APIKEYS_PK, RUNTIME, idem_pk, safe_id
from aos.adapters.azure.cosmos.ops import Cosmos, Exists, Stale
from aos.adapters.embedded.common import micros, response_json
from aos.errors import Conflict, NotFound, StorageError
from aos.model import ApiKeyRecord
from aos.ports import IdempotencyStore, IdempotentResponse, KeyStore


def _key_doc(record: ApiKeyRecord) -> dict[str, object]:
    return {
        "id": "k-" + safe_id(record.id),
        "tenant": APIKEYS_PK,
        "kind": "apikey",
        "keyTenant": record.tenant,
        "secretHash": record.secret_hash,
        "createdAt": micros(record.created_at),
        "record": record.model_dump(mode="json"),
    }


class CosmosKeyStore(KeyStore):
    def __init__(self, cosmos: Cosmos) -> None:
        self._db = cosmos

    async def add(self, record: ApiKeyRecord) -> None:
        try:
            await self._db.create(AGENTS, _key_doc(record))
        except Exists:
            raise Conflict(
                f"API key id '{record.id}' already exists; issue the key with a new id", key_id=record.id
            ) from None

    async def by_hash(self, secret_hash: str) -> ApiKeyRecord | None:
        sql = "SELECT * FROM c WHERE c.tenant = @pk AND c.kind = 'apikey' AND c.secretHash = @h"
        docs = await self._db.query(AGENTS, sql, {"@pk": APIKEYS_PK, "@h": secret_hash}, APIKEYS_PK)
        return ApiKeyRecord.model_validate(docs[0]["record"]) if docs else None

    async def revoke(self, tenant: str, key_id: str, when: datetime) -> ApiKeyRecord:
        for _ in range(3):
            doc = await self._db.read(AGENTS, "k-" + safe_id(key_id), APIKEYS_PK)
            if doc is None or doc["keyTenant"] != tenant:
                raise NotFound(f"API key '{key_id}' does not exist in this tenant", key_id=key_id)
            record = ApiKeyRecord.model_validate(doc["record"])
            if record.revoked_at is not None:
                return record
            record = record.model_copy(update={"revoked_at": when})
            try:
                await self._db.replace(AGENTS, _key_doc(record), doc["_etag"])
            except Stale:
                continue  # revoked (or changed) concurrently: re-read
            return record
        raise StorageError(f"API key '{key_id}' kept changing while being revoked; retry", key_id=key_id)

    async def list(self, tenant: str) -> list[ApiKeyRecord]:
        sql = "SELECT * FROM c WHERE c.tenant = @pk AND c.kind = 'apikey' AND c.keyTenant = @t"
        docs = await self._db.query(AGENTS, sql, {"@pk": APIKEYS_PK, "@t": tenant}, APIKEYS_PK)
        docs.sort(key=lambda d: (d["createdAt"], d["record"]["id"]))
        return [ApiKeyRecord.model_validate(d["record"]) for d in docs]


class CosmosIdempotencyStore(IdempotencyStore):
    def __init__(self, cosmos: Cosmos) -> None:
        self._db = cosmos

    async def get(self, scope: str, key: str) -> IdempotentResponse | None:
        doc = await self._db.read(RUNTIME, "i-" + safe_id(key), idem_pk(scope))
        return _response(doc) if doc else None

    async def put(self, scope: str, key: str, response: IdempotentResponse) -> IdempotentResponse:
        body = json.loads(response_json(response))  # ValidationFailed for a body that is not JSON
        doc = {"id": "i-" + safe_id(key), "agentKey": idem_pk(scope), "kind": "idem", "response": body}
        try:
            await self._db.create(RUNTIME, doc)
        except Exists:
            stored = await self._db.read(RUNTIME, doc["id"], idem_pk(scope))
            if stored is None:  # deleted between the 409 and the read: nothing else removes these
                raise StorageError(f"idempotent response '{key}' vanished; retry the request") from None
            return _response(stored)
        return _response(doc)


def _response(doc: dict[str, object]) -> IdempotentResponse:
    data = doc["response"]
    assert isinstance(data, dict)
    return IdempotentResponse(request_hash=data["request_hash"], status=data["status"], body=data["body"])
