"""`Cosmos`: what every Cosmos adapter does around an SDK call: bound it, retry 429s, name the failure.

- Throttling (429): wait the server's `x-ms-retry-after-ms` hint (capped; a short backoff when absent) and retry,
  at most `max_retries` times; then `StorageError` saying to raise the container's RU/s (or enable autoscale).
- Every call is bounded by `timeout_s`; a timeout or a transport error is a `StorageError` with the container and
  item named, cause chained. No call is retried on timeout: a write may have landed, and the adapters' writes are
  built to be re-run by the caller (deterministic ids, etags), not blindly by this layer.
- The statuses the adapters branch on come back as values or typed errors: a missing item reads as None,
  409 raises `Exists`, 412 raises `Stale`, 404 on a write raises `Missing`. The adapters turn those into the
  port's errors (`AgentExists`, `VersionConflict`, `NotFound`...). Any other status is a `StorageError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from azure.core.exceptions import AzureError
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError

from aos.adapters.azure.cosmos.client import BatchOp, CosmosApi, Doc
from aos.errors import StorageError

T = TypeVar("T")

MAX_RETRIES = 5
MAX_WAIT_S = 5.0
TIMEOUT_S = 10.0
#: Cosmos refuses a transactional batch of more than this many operations.
BATCH_LIMIT = 100


class Exists(Exception):
    """409: an item with that id already exists in the partition."""


class Stale(Exception):
    """412: the item's etag no longer matches (someone wrote first)."""


class Missing(Exception):
    """404 on a write: the item is gone."""


def _status(e: BaseException) -> int:
    return int(getattr(e, "status_code", 0) or 0)


def _retry_after_s(e: BaseException, attempt: int) -> float:
    headers = getattr(e, "headers", None) or {}
    raw = headers.get("x-ms-retry-after-ms") if hasattr(headers, "get") else None
    try:
        wait = float(raw) / 1000.0 if raw is not None else 0.05 * 2**attempt
    except (TypeError, ValueError):
        wait = 0.05 * 2**attempt
    return min(max(wait, 0.0), MAX_WAIT_S)


class Cosmos:
    """The adapters' gateway to a `CosmosApi`: retries, timeouts and error naming in one place."""

    def __init__(
        self,
        api: CosmosApi,
        *,
        max_retries: int = MAX_RETRIES,
        timeout_s: float = TIMEOUT_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self._max_retries = max_retries
        self._timeout_s = timeout_s
        self._sleep = sleep

    @property
    def supports_batch(self) -> bool:
        return self.api.supports_batch

    @property
    def supports_distinct(self) -> bool:
        return self.api.supports_distinct

    async def _call(self, op: str, where: str, fn: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(self._timeout_s):
                    return await fn()
            except TimeoutError as e:
                raise StorageError(
                    f"cosmos {op} timed out after {self._timeout_s:g}s [{where}]: check the account is reachable "
                    "(network, firewall, endpoint setting) and retry",
                ) from e
            except (CosmosHttpResponseError, CosmosBatchOperationError) as e:
                status = _status(e)
                if status == 429 and attempt < self._max_retries:
                    await self._sleep(_retry_after_s(e, attempt))
                    attempt += 1
                    continue
                if status == 429:
                    raise StorageError(
                        f"cosmos {op} throttled (429) [{where}] after {attempt} retries: raise the container's "
                        "RU/s or enable autoscale, or spread the load",
                    ) from e
                if status == 409:
                    raise Exists(where) from e
                if status == 412:
                    raise Stale(where) from e
                if status == 404 and op != "read":
                    raise Missing(where) from e
                if status == 404:
                    raise
                raise StorageError(f"cosmos {op} failed [{where}]: status {status or 'unknown'}") from e
            except AzureError as e:  # transport: connection refused, reset, DNS...
                raise StorageError(f"cosmos {op} failed [{where}]: {type(e).__name__}; check the endpoint") from e

    async def read(self, container: str, item_id: str, pk: str) -> Doc | None:
        """The item, or None when it does not exist (a point read: 1 RU for a small item)."""
        try:
            return await self._call(
                "read", _where(container, item_id, pk), lambda: self.api.read(container, item_id, pk)
            )
        except CosmosHttpResponseError as e:
            if _status(e) == 404:
                return None
            raise  # pragma: no cover - _call maps every other status

    async def create(self, container: str, doc: Doc) -> Doc:
        """Raises `Exists` when the id is taken in that partition."""
        return await self._call("create", _where_doc(container, doc), lambda: self.api.create(container, doc))

    async def upsert(self, container: str, doc: Doc) -> Doc:
        return await self._call("upsert", _where_doc(container, doc), lambda: self.api.upsert(container, doc))

    async def replace(self, container: str, doc: Doc, etag: str | None) -> Doc:
        """Raises `Stale` when `etag` no longer matches, `Missing` when the item is gone."""
        return await self._call(
            "replace", _where_doc(container, doc), lambda: self.api.replace(container, doc, etag)
        )

    async def patch(self, container: str, item_id: str, pk: str, operations: list[Doc]) -> Doc:
        return await self._call(
            "patch", _where(container, item_id, pk), lambda: self.api.patch(container, item_id, pk, operations)
        )

    async def delete(self, container: str, item_id: str, pk: str, etag: str | None = None) -> bool:
        """Whether it existed. Raises `Stale` when `etag` no longer matches."""
        try:
            await self._call(
                "delete", _where(container, item_id, pk), lambda: self.api.delete(container, item_id, pk, etag)
            )
        except Missing:
            return False
        return True

    async def batch(self, container: str, pk: str, operations: Sequence[BatchOp]) -> list[Doc]:
        """All or nothing in one partition. A failed operation raises `Exists`/`Stale`/`Missing` like the
        single-item calls (the status of the operation that failed)."""
        if len(operations) > BATCH_LIMIT:
            raise ValueError(f"a transactional batch holds at most {BATCH_LIMIT} operations")
        where = f"container={container}, pk={pk}, batch of {len(operations)}"
        return await self._call("batch", where, lambda: self.api.batch(container, pk, operations))

    async def page(
        self,
        container: str,
        query: str,
        params: dict[str, Any],
        pk: str | None,
        *,
        max_items: int | None = None,
        continuation: str | None = None,
    ) -> tuple[list[Any], str | None]:
        """One page and the continuation token of the next."""
        where = f"container={container}, pk={pk if pk is not None else '*'}"
        return await self._call(
            "query", where, lambda: self.api.query_page(container, query, params, pk, max_items, continuation)
        )

    async def iterate(
        self, container: str, query: str, params: dict[str, Any], pk: str | None, *, page_size: int | None = None
    ) -> AsyncIterator[Any]:
        """Every result, following continuation tokens page by page (each page retried on its own)."""
        token: str | None = None
        while True:
            items, token = await self.page(container, query, params, pk, max_items=page_size, continuation=token)
            for item in items:
                yield item
            if not token:
                return

    async def query(
        self, container: str, query: str, params: dict[str, Any], pk: str | None, *, page_size: int | None = None
    ) -> list[Any]:
        return [item async for item in self.iterate(container, query, params, pk, page_size=page_size)]

    async def close(self) -> None:
        await self.api.close()


def _where(container: str, item_id: str, pk: str) -> str:
    return f"container={container}, id={item_id}, pk={pk}"


def _where_doc(container: str, doc: Doc) -> str:
    pk = doc.get("agentKey", doc.get("tenant", "?"))
    return f"container={container}, id={doc.get('id')}, pk={pk}"
