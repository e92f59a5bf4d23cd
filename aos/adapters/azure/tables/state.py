"""StateStore on Azure Table Storage: one entity per agent key (PartitionKey = tenant, RowKey = agent id).

Compare-and-set: version 0 → `create` (409 means someone created it first); otherwise read, compare `version`,
and replace with the row's etag (If-Match), so a 412 is a lost race, reported as `VersionConflict`. Values are
JSON in chunked binary properties (`codec`); at most ~960 KB per agent here.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from aos.adapters.azure.tables import codec
from aos.adapters.azure.tables.api import TableApi, TableOp
from aos.adapters.embedded.common import json_copy, version_conflict
from aos.errors import StorageError
from aos.ports import StateStore


def _keys(key: str) -> tuple[str, str]:
    tenant, _, rest = key.partition("/")
    return codec.key(tenant), codec.key(rest)


class TableStateStore(StateStore):
    def __init__(self, api: TableApi, table: str = "aosstate") -> None:
        self.api = api
        self.table = table

    async def _read(self, key: str) -> tuple[dict[str, Any], int, str | None]:
        try:
            entity, etag = await self.api.get(*_keys(key))
        except ResourceNotFoundError:
            return {}, 0, None
        return codec.unpack(entity), int(entity["version"]), etag

    async def get(self, key: str) -> tuple[dict[str, Any], int]:
        try:
            value, version, _ = await self._read(key)
        except AzureError as e:
            raise StorageError(f"table read of state '{key}' failed [table={self.table}]: {e}") from e
        return value, version

    async def put(self, key: str, value: dict[str, Any], expected_version: int) -> int:
        raw = json_copy(value, "agent state")
        pk, rk = _keys(key)
        entity = {"PartitionKey": pk, "RowKey": rk, "version": expected_version + 1,
                  **codec.pack(raw, f"state of '{key}'")}
        try:
            if expected_version == 0:
                await self.api.submit([TableOp("create", entity)])
            else:
                _, current, etag = await self._read(key)
                if current != expected_version:
                    raise version_conflict(f"state of '{key}'", expected_version, current, key=key)
                await self.api.submit([TableOp("replace", entity, etag)])
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            _, current, _ = await self._read(key)
            raise version_conflict(f"state of '{key}'", expected_version, current, key=key) from None
        except AzureError as e:
            raise StorageError(f"table write of state '{key}' failed [table={self.table}]: {e}") from e
        return expected_version + 1

    async def delete(self, key: str) -> bool:
        try:
            _, _, etag = await self._read(key)
            if etag is None:
                return False
            pk, rk = _keys(key)
            await self.api.submit([TableOp("delete", {"PartitionKey": pk, "RowKey": rk})])
        except AzureError as e:
            raise StorageError(f"table delete of state '{key}' failed [table={self.table}]: {e}") from e
        return True
