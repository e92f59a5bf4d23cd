"""The thin layer over `azure.data.tables.aio.TableClient`: just the calls the Table adapters make.

It normalizes the SDK's errors to three azure.core exceptions the adapters branch on, whether a call was a
single-entity one or an entity-group transaction: `ResourceNotFoundError` (404), `ResourceExistsError` (409
EntityAlreadyExists) and `ResourceModifiedError` (412: an etag did not match). Anything else is raised as the
SDK raised it (an `AzureError`), and the adapters wrap it in `StorageError`.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

OpKind = Literal["create", "replace", "upsert", "delete"]
#: Entity-group transactions hold at most this many operations (one partition).
MAX_TRANSACTION_OPS = 100


@dataclass(frozen=True)
class TableOp:
    """One write. `etag` makes a replace or delete conditional (If-Match); None means unconditional."""

    kind: OpKind
    entity: dict[str, Any]
    etag: str | None = field(default=None)


class TableApi(abc.ABC):
    @abc.abstractmethod
    async def ensure_table(self) -> None: ...

    @abc.abstractmethod
    async def get(self, partition_key: str, row_key: str) -> tuple[dict[str, Any], str]:
        """The entity and its etag; `ResourceNotFoundError` if missing."""

    @abc.abstractmethod
    def query(self, query_filter: str, parameters: dict[str, Any], *, page_size: int = 100,
              select: list[str] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Entities matching an OData filter, paging with the service's continuation tokens."""

    @abc.abstractmethod
    async def submit(self, ops: list[TableOp]) -> None:
        """Apply the writes atomically (one partition, at most `MAX_TRANSACTION_OPS`)."""

    @abc.abstractmethod
    async def close(self) -> None: ...


def _normalized(e: HttpResponseError) -> Exception:
    code = str(getattr(e, "error_code", "") or "")
    status = e.status_code
    if status == 404 or code == "ResourceNotFound":
        return ResourceNotFoundError(message=str(e), response=e.response)
    if status == 412 or code == "UpdateConditionNotSatisfied":
        return ResourceModifiedError(message=str(e), response=e.response)
    if status == 409 and code in ("EntityAlreadyExists", ""):
        return ResourceExistsError(message=str(e), response=e.response)
    return e


class SdkTableApi(TableApi):
    """`TableApi` on an async `TableClient` (owned: `close` closes it)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def ensure_table(self) -> None:
        try:
            await self._client.create_table()
        except ResourceExistsError:
            pass

    async def get(self, partition_key: str, row_key: str) -> tuple[dict[str, Any], str]:
        entity = await self._client.get_entity(partition_key, row_key)
        return dict(entity), str(entity.metadata["etag"])

    async def query(self, query_filter: str, parameters: dict[str, Any], *, page_size: int = 100,
                    select: list[str] | None = None) -> AsyncIterator[dict[str, Any]]:
        pages = self._client.query_entities(query_filter, parameters=parameters, results_per_page=page_size,
                                            select=select).by_page()
        async for page in pages:
            async for entity in page:
                yield dict(entity)

    async def submit(self, ops: list[TableOp]) -> None:
        try:
            if len(ops) == 1:
                await self._single(ops[0])
            else:
                await self._client.submit_transaction([self._batch_op(op) for op in ops])
        except (ResourceNotFoundError, ResourceExistsError, ResourceModifiedError):
            raise
        except HttpResponseError as e:
            raise _normalized(e) from e

    async def _single(self, op: TableOp) -> None:
        from azure.data.tables import UpdateMode

        cond = MatchConditions.IfNotModified if op.etag else MatchConditions.Unconditionally
        if op.kind == "create":
            await self._client.create_entity(op.entity)
        elif op.kind == "replace":
            await self._client.update_entity(op.entity, mode=UpdateMode.REPLACE, etag=op.etag, match_condition=cond)
        elif op.kind == "upsert":
            await self._client.upsert_entity(op.entity, mode=UpdateMode.REPLACE)
        else:
            await self._client.delete_entity(op.entity["PartitionKey"], op.entity["RowKey"], etag=op.etag,
                                             match_condition=cond)

    @staticmethod
    def _batch_op(op: TableOp) -> tuple[Any, ...]:
        if op.kind == "create":
            return ("create", op.entity)
        if op.kind == "upsert":
            return ("upsert", op.entity, {"mode": "replace"})
        cond = MatchConditions.IfNotModified if op.etag else MatchConditions.Unconditionally
        if op.kind == "replace":
            return ("update", op.entity, {"mode": "replace", "etag": op.etag, "match_condition": cond})
        return ("delete", op.entity, {"etag": op.etag, "match_condition": cond})

    async def close(self) -> None:
        await self._client.close()


async def open_table(target: Any, table: str, *, credential: Any = None) -> SdkTableApi:
    """A `SdkTableApi` on `target` (a `StorageTarget`), with the table created if missing."""
    from azure.data.tables.aio import TableClient

    # The Tables SDK speaks API version 2019-02-02 (the only one the Table service has), which Azurite accepts.
    if target.connection_string:
        client = TableClient.from_connection_string(target.connection_string, table)
    else:
        client = TableClient(target.endpoint("table"), table, credential=credential)
    api = SdkTableApi(client)
    try:
        await api.ensure_table()
    except BaseException:
        await api.close()
        raise
    return api
