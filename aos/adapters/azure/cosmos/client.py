"""The thin interface over the azure-cosmos SDK calls the Cosmos adapters use, and its SDK implementation.

`CosmosApi` is the seam STYLE.md asks for: the adapters (through `aos.adapters.azure.cosmos.ops.Cosmos`) call
only these methods, and they raise the SDK's own exceptions (`CosmosHttpResponseError` and subclasses,
`azure.core.exceptions.ServiceRequestError`...), so a test can subclass `CosmosApi` and inject throttling,
timeouts and conflicts exactly where the SDK would.

`SdkCosmosApi` uses `azure.cosmos.aio.CosmosClient`. The SDK's own throttle retries are switched off
(`retry_throttle_total=0`): `Cosmos` retries 429s itself with the server's `x-ms-retry-after-ms` hint, bounded,
and then raises a `StorageError` that says what to do.

Emulator compatibility is one named switch, `emulator=True`, for `@vercel/cosmosdb-server` (tests and
`azure-local` only). It changes exactly three things and nothing else:
- a point read of a missing item answers 500 there, not 404: a 500 on `read` is reported as 404;
- there is no transactional batch: `supports_batch` is False and the adapters use their documented fallback
  order of idempotent single-item writes;
- `SELECT DISTINCT` does not parse: `supports_distinct` is False and the adapters dedupe client-side.
(The emulator also ignores `partition_key=` in queries; the adapters put `c.<pk> = @pk` in every WHERE, which is
right for real Cosmos too, so that needs no switch.)
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceNotFoundError

Doc = dict[str, Any]
#: One transactional-batch operation, in the SDK's shape: ("create", (doc,)), ("replace", (id, doc), {...}),
#: ("upsert", (doc,)), ("patch", (id, ops)), ("delete", (id,), {...}).
BatchOp = tuple[Any, ...]


class CosmosApi(abc.ABC):
    """The SDK calls the adapters need, one container at a time (by name, in one database)."""

    emulator: bool = False

    @property
    def supports_batch(self) -> bool:
        return not self.emulator

    @property
    def supports_distinct(self) -> bool:
        return not self.emulator

    @abc.abstractmethod
    async def read(self, container: str, item_id: str, pk: str) -> Doc: ...

    @abc.abstractmethod
    async def create(self, container: str, doc: Doc) -> Doc: ...

    @abc.abstractmethod
    async def upsert(self, container: str, doc: Doc) -> Doc: ...

    @abc.abstractmethod
    async def replace(self, container: str, doc: Doc, etag: str | None) -> Doc:
        """Replace `doc["id"]`; with `etag`, only if the stored `_etag` still matches (412 otherwise)."""

    @abc.abstractmethod
    async def patch(self, container: str, item_id: str, pk: str, operations: list[Doc]) -> Doc: ...

    @abc.abstractmethod
    async def delete(self, container: str, item_id: str, pk: str, etag: str | None) -> None: ...

    @abc.abstractmethod
    async def query_page(
        self,
        container: str,
        query: str,
        parameters: dict[str, Any],
        pk: str | None,
        max_items: int | None,
        continuation: str | None,
    ) -> tuple[list[Any], str | None]:
        """One page of a query and the continuation token of the next (None at the end). `pk` None: all
        partitions."""

    @abc.abstractmethod
    async def batch(self, container: str, pk: str, operations: Sequence[BatchOp]) -> list[Doc]:
        """A transactional batch in one partition (≤ 100 operations): all or nothing."""

    async def close(self) -> None:
        return None


class SdkCosmosApi(CosmosApi):
    """`CosmosApi` on `azure.cosmos.aio`. Owns the client (and the credential, if given one to close)."""

    def __init__(self, client: Any, database: str, *, emulator: bool = False, owned: Sequence[Any] = ()) -> None:
        self._client = client
        self._db = client.get_database_client(database)
        self._containers: dict[str, Any] = {}
        self._owned = list(owned)
        self.emulator = emulator

    @classmethod
    def connect(
        cls, endpoint: str, database: str, *, credential: Any, emulator: bool = False, **client_kwargs: Any
    ) -> SdkCosmosApi:
        """`credential`: a `DefaultAzureCredential` (azure.identity.aio) in Azure, the account key for an emulator."""
        from azure.cosmos.aio import CosmosClient

        kwargs: dict[str, Any] = {"retry_throttle_total": 0, **client_kwargs}
        if emulator:
            kwargs.setdefault("enable_endpoint_discovery", False)
        client = CosmosClient(endpoint, credential=credential, **kwargs)
        owned = [] if isinstance(credential, str) else [credential]
        return cls(client, database, emulator=emulator, owned=owned)

    def _c(self, name: str) -> Any:
        found = self._containers.get(name)
        if found is None:
            found = self._containers[name] = self._db.get_container_client(name)
        return found

    async def read(self, container: str, item_id: str, pk: str) -> Doc:
        try:
            return dict(await self._c(container).read_item(item_id, partition_key=pk))
        except CosmosHttpResponseError as e:
            if self.emulator and e.status_code == 500:  # the emulator's answer for a missing item
                raise CosmosResourceNotFoundError(status_code=404, message=f"missing (emulator 500): {e}") from e
            raise

    async def create(self, container: str, doc: Doc) -> Doc:
        return dict(await self._c(container).create_item(doc))

    async def upsert(self, container: str, doc: Doc) -> Doc:
        return dict(await self._c(container).upsert_item(doc))

    async def replace(self, container: str, doc: Doc, etag: str | None) -> Doc:
        kwargs: dict[str, Any] = {}
        if etag is not None:
            from azure.core import MatchConditions

            kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        return dict(await self._c(container).replace_item(doc["id"], doc, **kwargs))

    async def patch(self, container: str, item_id: str, pk: str, operations: list[Doc]) -> Doc:
        return dict(await self._c(container).patch_item(item_id, partition_key=pk, patch_operations=operations))

    async def delete(self, container: str, item_id: str, pk: str, etag: str | None) -> None:
        kwargs: dict[str, Any] = {}
        if etag is not None:
            from azure.core import MatchConditions

            kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        await self._c(container).delete_item(item_id, partition_key=pk, **kwargs)

    async def query_page(
        self,
        container: str,
        query: str,
        parameters: dict[str, Any],
        pk: str | None,
        max_items: int | None,
        continuation: str | None,
    ) -> tuple[list[Any], str | None]:
        params = [{"name": k, "value": v} for k, v in parameters.items()]
        kwargs: dict[str, Any] = {"parameters": params, "max_item_count": max_items}
        if pk is not None:
            kwargs["partition_key"] = pk
        pager = self._c(container).query_items(query, **kwargs).by_page(continuation)
        try:
            page = await pager.__anext__()
        except StopAsyncIteration:
            return [], None
        items = [item async for item in page]
        return items, pager.continuation_token

    async def batch(self, container: str, pk: str, operations: Sequence[BatchOp]) -> list[Doc]:
        result = await self._c(container).execute_item_batch(list(operations), partition_key=pk)
        return [dict(r) for r in result]

    async def create_containers(self, containers: dict[str, str]) -> None:
        """Create the database and containers if missing. Infra creates them in Azure; emulators and tests need this."""
        from azure.cosmos import PartitionKey

        await self._client.create_database_if_not_exists(self._db.id)
        for name, path in containers.items():
            await self._db.create_container_if_not_exists(name, partition_key=PartitionKey(path))

    async def drop_database(self) -> None:
        """Delete the whole database (tests: each uses a fresh one)."""
        await self._client.delete_database(self._db.id)

    async def close(self) -> None:
        await self._client.close()
        for owned in self._owned:
            close = getattr(owned, "close", None)
            if close is not None:
                await close()
