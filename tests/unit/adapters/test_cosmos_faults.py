"""Cosmos adapters under injected faults, with a fake at the thin SDK seam (`CosmosApi`), no emulator.

The fake keeps items in a dict and raises the SDK's own exceptions (`CosmosHttpResponseError` with the status and
headers the service sends), so these tests check what the adapters do with throttling, timeouts, conflicts and
transport errors, and which SDK calls a step's writes become (batch vs. the emulator's fallback order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.cosmos.exceptions import CosmosHttpResponseError

from aos.adapters.azure.cosmos import (
    Cosmos,
    CosmosAgentRegistry,
    CosmosApi,
    CosmosMailbox,
    CosmosStateStore,
)
from aos.adapters.azure.cosmos.client import BatchOp, Doc
from aos.adapters.embedded import ManualClock
from aos.errors import AgentExists, StorageError, VersionConflict
from aos.model import AgentRecord, AgentSpec, BrainSpec, Event

pytestmark = pytest.mark.anyio


def http_error(status: int, retry_after_ms: int | None = None) -> CosmosHttpResponseError:
    e = CosmosHttpResponseError(status_code=status, message=f"injected {status}")
    if retry_after_ms is not None:
        e.headers = {"x-ms-retry-after-ms": str(retry_after_ms)}
    return e


class FakeCosmosApi(CosmosApi):
    """Items in a dict, etags as counters; `faults[method]` is a list of exceptions raised before the real work
    (one per call, in order; `forever[method]` is raised on every call). No queries: the tests below use only
    point operations."""

    def __init__(self, *, batch: bool = True) -> None:
        self.items: dict[tuple[str, str, str], Doc] = {}
        self.faults: dict[str, list[BaseException]] = {}
        self.forever: dict[str, BaseException] = {}
        self.calls: list[tuple[str, Any]] = []
        self.hang: set[str] = set()
        self._etag = 0
        self._batch = batch

    @property
    def supports_batch(self) -> bool:
        return self._batch

    async def _enter(self, method: str, what: Any) -> None:
        self.calls.append((method, what))
        if method in self.hang:
            await asyncio.Event().wait()
        if method in self.forever:
            raise self.forever[method]
        queued = self.faults.get(method)
        if queued:
            raise queued.pop(0)

    def _put(self, container: str, doc: Doc) -> Doc:
        self._etag += 1
        stored = {**doc, "_etag": str(self._etag)}
        self.items[(container, _pk(doc), doc["id"])] = stored
        return dict(stored)

    async def read(self, container: str, item_id: str, pk: str) -> Doc:
        await self._enter("read", item_id)
        if (container, pk, item_id) not in self.items:
            raise http_error(404)
        return dict(self.items[(container, pk, item_id)])

    async def create(self, container: str, doc: Doc) -> Doc:
        await self._enter("create", doc["id"])
        if (container, _pk(doc), doc["id"]) in self.items:
            raise http_error(409)
        return self._put(container, doc)

    async def upsert(self, container: str, doc: Doc) -> Doc:
        await self._enter("upsert", doc["id"])
        return self._put(container, doc)

    async def replace(self, container: str, doc: Doc, etag: str | None) -> Doc:
        await self._enter("replace", doc["id"])
        current = self.items.get((container, _pk(doc), doc["id"]))
        if current is None:
            raise http_error(404)
        if etag is not None and current["_etag"] != etag:
            raise http_error(412)
        return self._put(container, doc)

    async def patch(self, container: str, item_id: str, pk: str, operations: list[Doc]) -> Doc:
        await self._enter("patch", item_id)
        current = self.items.get((container, pk, item_id))
        if current is None:
            raise http_error(404)
        doc = dict(current)
        for op in operations:
            field = op["path"].lstrip("/")
            doc[field] = doc[field] + op["value"] if op["op"] == "incr" else op["value"]
        return self._put(container, doc)

    async def delete(self, container: str, item_id: str, pk: str, etag: str | None) -> None:
        await self._enter("delete", item_id)
        if self.items.pop((container, pk, item_id), None) is None:
            raise http_error(404)

    async def query_page(self, *args: Any, **kwargs: Any) -> tuple[list[Any], str | None]:
        raise NotImplementedError("the fault tests use point operations only")

    async def batch(self, container: str, pk: str, operations: Sequence[BatchOp]) -> list[Doc]:
        await self._enter("batch", [op[0] for op in operations])
        return []


def _pk(doc: Doc) -> str:
    return str(doc.get("agentKey", doc.get("tenant")))


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def api() -> FakeCosmosApi:
    return FakeCosmosApi()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def cosmos(api: FakeCosmosApi, sleeps: Sleeps) -> Cosmos:
    return Cosmos(api, max_retries=3, timeout_s=0.2, sleep=sleeps)


async def test_throttled_call_waits_the_servers_hint_then_succeeds(
    api: FakeCosmosApi, cosmos: Cosmos, sleeps: Sleeps
) -> None:
    state = CosmosStateStore(cosmos)
    await state.put("acme/alpha", {"n": 1}, 0)
    api.faults["read"] = [http_error(429, retry_after_ms=70), http_error(429, retry_after_ms=20)]
    assert await state.get("acme/alpha") == ({"n": 1}, 1)
    assert sleeps.waits == [0.07, 0.02]


async def test_throttled_forever_is_a_storage_error_saying_what_to_do(
    api: FakeCosmosApi, cosmos: Cosmos, sleeps: Sleeps
) -> None:
    api.forever["read"] = http_error(429, retry_after_ms=5)
    with pytest.raises(StorageError, match=r"throttled \(429\).*container=runtime.*RU/s") as raised:
        await CosmosStateStore(cosmos).get("acme/alpha")
    assert isinstance(raised.value.__cause__, CosmosHttpResponseError)
    assert len(sleeps.waits) == 3 and len(api.calls) == 4  # bounded: 3 retries after the first call


async def test_precondition_failed_is_a_version_conflict(api: FakeCosmosApi, cosmos: Cosmos) -> None:
    state = CosmosStateStore(cosmos)
    await state.put("acme/alpha", {"n": 1}, 0)
    api.faults["replace"] = [http_error(412)]  # another writer replaced it between our read and our write
    with pytest.raises(VersionConflict):
        await state.put("acme/alpha", {"n": 2}, 1)


async def test_conflict_on_create_is_agent_exists(api: FakeCosmosApi, cosmos: Cosmos) -> None:
    record = AgentRecord(tenant="acme", spec=AgentSpec(id="alpha", brain=BrainSpec(kind="python")))
    api.faults["create"] = [http_error(409)]
    with pytest.raises(AgentExists):
        await CosmosAgentRegistry(cosmos).create(record)


async def test_a_call_that_hangs_times_out_as_a_storage_error(api: FakeCosmosApi, cosmos: Cosmos) -> None:
    api.hang.add("read")
    with pytest.raises(StorageError, match=r"timed out after 0.2s.*id=state"):
        await CosmosStateStore(cosmos).get("acme/alpha")


async def test_transport_errors_and_other_statuses_are_storage_errors(api: FakeCosmosApi, cosmos: Cosmos) -> None:
    api.faults["read"] = [ServiceRequestError("connection refused")]
    with pytest.raises(StorageError, match="ServiceRequestError; check the endpoint") as raised:
        await CosmosStateStore(cosmos).get("acme/alpha")
    assert isinstance(raised.value.__cause__, ServiceRequestError)
    api.faults["create"] = [http_error(503)]
    with pytest.raises(StorageError, match=r"cosmos create failed \[container=runtime, id=state, pk=acme/alpha\]"):
        await CosmosStateStore(cosmos).put("acme/alpha", {}, 0)


async def _claimed_step(api: FakeCosmosApi, mailbox: CosmosMailbox) -> None:
    """Put a claimed step with two events straight into the fake (begin_step needs queries)."""
    api._put("runtime", {"id": "s-000000000001", "agentKey": "acme/alpha", "kind": "step", "seq": 1,
                         "agentId": "alpha", "status": "claimed", "eventIds": ["e1", "e2"], "decision": None,
                         "attempts": 1, "error": None, "startedAt": "2030-01-01T00:00:00+00:00",
                         "finishedAt": None})
    for eid in ("e1", "e2"):
        await mailbox.deliver("acme", Event(id=eid, source="/t", type="x"), ["acme/alpha"])
    api.calls.clear()


async def test_finishing_a_step_is_one_transactional_batch_on_real_cosmos(api: FakeCosmosApi, cosmos: Cosmos) -> None:
    mailbox = CosmosMailbox(cosmos, ManualClock())
    await _claimed_step(api, mailbox)
    await mailbox.complete_step("acme/alpha", 1)
    assert [c[0] for c in api.calls] == ["read", "batch"]
    assert api.calls[1][1] == ["patch", "patch", "replace"]


async def test_without_batch_items_are_written_first_and_the_step_last(cosmos: Cosmos, api: FakeCosmosApi) -> None:
    api._batch = False
    mailbox = CosmosMailbox(cosmos, ManualClock())
    await _claimed_step(api, mailbox)
    api.faults["replace"] = [http_error(503)]  # crash before the commit marker: the step stays unfinished
    with pytest.raises(StorageError):
        await mailbox.complete_step("acme/alpha", 1)
    assert [c[0] for c in api.calls] == ["read", "patch", "patch", "replace"]
    assert api.items[("runtime", "acme/alpha", "s-000000000001")]["status"] == "claimed"
    await mailbox.complete_step("acme/alpha", 1)  # finishing again completes it
    assert api.items[("runtime", "acme/alpha", "s-000000000001")]["status"] == "done"


async def test_a_delivery_retried_after_a_failed_commit_marker_completes_without_duplicates(
    api: FakeCosmosApi, cosmos: Cosmos
) -> None:
    mailbox = CosmosMailbox(cosmos, ManualClock())
    event = Event(id="e1", source="/t", type="x")
    original = api.create
    seen: list[str] = []

    async def fail_marker(container: str, doc: Doc) -> Doc:
        seen.append(doc["id"])
        if doc["kind"] == "log" and seen.count(doc["id"]) == 1:
            raise http_error(503)
        return await original(container, doc)

    api.create = fail_marker  # type: ignore[method-assign]
    with pytest.raises(StorageError):
        await mailbox.deliver("acme", event, ["acme/alpha", "acme/beta"])
    msgs = [k for k in api.items if k[2].startswith("m-")]
    assert len(msgs) == 2  # both mailboxes already hold it
    again = await mailbox.deliver("acme", event, ["acme/alpha", "acme/beta"])
    assert again.duplicate is False and again.agent_keys == ("acme/alpha", "acme/beta")
    assert len([k for k in api.items if k[2].startswith("m-")]) == 2
    third = await mailbox.deliver("acme", event, ["acme/alpha"])
    assert (third.duplicate, third.agent_keys) == (True, ("acme/alpha", "acme/beta"))
