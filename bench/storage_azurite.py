"""The Azurite side of `bench/storage.py`: Blob, Table (registry + state) and Storage Queue, AOS vs raw SDK.

Each pair does the same work on the same Azurite, through the AOS adapter and through `azure.*.aio` directly,
issuing the same SDK calls in the same order (see the adapter named in each raw function), so the difference is
what AOS adds: models and validation, name checks, hashing, error mapping. The raw side works with plain dicts
the way an application without AOS would, but keeps every round trip the adapter makes (for Blob: the
parent/folder shape check; for Tables: the read before a compare-and-set), since those are part of the
contract being paid for, not overhead. Setup (creating the container/table/queue) and cleanup are not timed.

A unit is: blob = one `put` of the event's JSON (~0.3 KB) then, after all puts, one `get`; table = one agent's
`create` + `get` + `update` (etag CAS) in the registry and two state `put`s (create, then read + CAS);
queue = one event sent, then received in batches of 32 and completed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobServiceClient, ContainerClient
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from aos.adapters.azure.blob import open_blob_store
from aos.adapters.azure.credentials import STORAGE_API_VERSION, StorageTarget
from aos.adapters.azure.queue import open_queue_transport
from aos.adapters.azure.tables import codec
from aos.adapters.azure.tables.api import open_table
from aos.adapters.azure.tables.registry import TableAgentRegistry
from aos.adapters.azure.tables.state import TableStateStore
from aos.model import AgentRecord, AgentSpec, AgentState, Event

TENANT = "bench"


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------- blob


def _payloads(evs: list[Event]) -> list[tuple[str, bytes]]:
    return [(f"bench/p-{ev.id}.json", ev.model_dump_json().encode()) for ev in evs]


async def _drop_container(conn: str, name: str) -> None:
    async with BlobServiceClient.from_connection_string(conn, api_version=STORAGE_API_VERSION) as svc:
        await svc.delete_container(name)


async def blob_aos(conn: str, evs: list[Event], batch: int) -> float:
    container = _name("bench")
    store = await open_blob_store(StorageTarget(connection_string=conn), container=container)
    payloads = _payloads(evs)
    try:
        t0 = time.perf_counter()
        for name, data in payloads:
            await store.put(name, data, "application/json")
        for name, data in payloads:
            assert await store.get(name) == data
        return time.perf_counter() - t0
    finally:
        await store.close()
        await _drop_container(conn, container)


async def blob_raw(conn: str, evs: list[Event], batch: int) -> float:
    """The SDK calls of `AzureBlobStore.put/get` (aos/adapters/azure/blob.py), written inline."""
    container = _name("bench")
    client = ContainerClient.from_connection_string(conn, container, api_version=STORAGE_API_VERSION)
    await client.create_container()
    payloads = _payloads(evs)
    try:
        t0 = time.perf_counter()
        for name, data in payloads:
            digest = hashlib.sha256(data).hexdigest()
            await client.get_blob_client("bench").exists()  # the parent may not be a blob
            async for page in client.list_blobs(name_starts_with=name + "/", include=["metadata"],
                                                results_per_page=1).by_page():
                async for _ in page:  # nor may the name be a folder
                    raise AssertionError("unexpected folder")
            await client.upload_blob(name, data, overwrite=True, metadata={"sha256": digest},
                                     content_settings=ContentSettings(content_type="application/json"))
        for name, data in payloads:
            stream = await client.download_blob(name)
            body = bytes(await stream.readall())
            assert hashlib.sha256(body).hexdigest() == stream.properties.metadata["sha256"] and body == data
        return time.perf_counter() - t0
    finally:
        await client.close()
        await _drop_container(conn, container)


# ---------------------------------------------------------------- tables: registry + state


def _records(n: int) -> list[AgentRecord]:
    now = datetime.now(UTC)
    return [AgentRecord(tenant=TENANT, created_at=now, updated_at=now, spec=AgentSpec.model_validate({
        "id": f"agent-{i:05d}", "purpose": "bench", "brain": {"kind": "scripted", "settings": {"rules": []}},
        "subscriptions": [{"type": "bench.tick"}]})) for i in range(n)]


async def _drop_tables(conn: str, *names: str) -> None:
    async with TableServiceClient.from_connection_string(conn) as svc:
        for name in names:
            await svc.delete_table(name)


async def table_aos(conn: str, evs: list[Event], batch: int) -> float:
    target = StorageTarget(connection_string=conn)
    agents_t, state_t = _name("benchagents"), _name("benchstate")
    registry = TableAgentRegistry(await open_table(target, agents_t), agents_t)
    state = TableStateStore(await open_table(target, state_t), state_t)
    records = _records(len(evs))
    try:
        t0 = time.perf_counter()
        for record in records:
            await registry.create(record)
            got = await registry.get(TENANT, record.id)
            await registry.update(got.model_copy(update={"state": AgentState.SUSPENDED}))
            version = await state.put(record.key, {"n": 1}, 0)
            await state.put(record.key, {"n": 2}, version)
        return time.perf_counter() - t0
    finally:
        await registry.api.close()
        await state.api.close()
        await _drop_tables(conn, agents_t, state_t)


def _agent_entity(doc: dict[str, Any], version: int) -> dict[str, Any]:
    doc["version"] = version
    return {"PartitionKey": TENANT, "RowKey": "a|" + doc["spec"]["id"], "kind": "agent", "version": version,
            "state": doc["state"], "wakeAt": EntityProperty(-1, EdmType.INT64),
            **codec.pack(json.dumps(doc), "agent")}


async def table_raw(conn: str, evs: list[Event], batch: int) -> float:
    """The SDK calls of `TableAgentRegistry.create/get/update` and `TableStateStore.put`
    (aos/adapters/azure/tables/), written inline on dicts."""
    agents_t, state_t = _name("benchagents"), _name("benchstate")
    agents = TableClient.from_connection_string(conn, agents_t)
    states = TableClient.from_connection_string(conn, state_t)
    await agents.create_table()
    await states.create_table()
    docs = [r.model_dump(mode="json") for r in _records(len(evs))]
    cas = MatchConditions.IfNotModified
    try:
        t0 = time.perf_counter()
        for doc in docs:
            agent_id = doc["spec"]["id"]
            await agents.submit_transaction([  # the agent row and its subscription index row, atomically
                ("create", _agent_entity(doc, 1)),
                ("upsert", {"PartitionKey": TENANT, "RowKey": f"s|{codec.key('bench.tick')}|{agent_id}",
                            "kind": "sub", "agent": agent_id}, {"mode": "replace"})])
            entity = await agents.get_entity(TENANT, "a|" + agent_id)
            current = codec.unpack(dict(entity))
            current["state"] = "suspended"
            entity = await agents.get_entity(TENANT, "a|" + agent_id)  # update re-reads for the etag
            assert codec.unpack(dict(entity))["version"] == current["version"]
            await agents.update_entity(_agent_entity(current, current["version"] + 1), mode=UpdateMode.REPLACE,
                                       etag=entity.metadata["etag"], match_condition=cas)
            key = codec.key(agent_id)
            await states.create_entity({"PartitionKey": TENANT, "RowKey": key, "version": 1,
                                        **codec.pack(json.dumps({"n": 1}), "state")})
            row = await states.get_entity(TENANT, key)
            assert int(row["version"]) == 1
            await states.update_entity({"PartitionKey": TENANT, "RowKey": key, "version": 2,
                                        **codec.pack(json.dumps({"n": 2}), "state")},
                                       mode=UpdateMode.REPLACE, etag=row.metadata["etag"], match_condition=cas)
        return time.perf_counter() - t0
    finally:
        await agents.close()
        await states.close()
        await _drop_tables(conn, agents_t, state_t)


# ---------------------------------------------------------------- storage queue


async def _drop_queues(conn: str, *names: str) -> None:
    async with QueueServiceClient.from_connection_string(conn, api_version=STORAGE_API_VERSION) as svc:
        for name in names:
            try:
                await svc.delete_queue(name)
            except ResourceNotFoundError:
                pass


async def queue_aos(conn: str, evs: list[Event], batch: int) -> float:
    name = _name("bench")
    transport = await open_queue_transport(StorageTarget(connection_string=conn), name)
    try:
        t0 = time.perf_counter()
        await transport.send(evs)
        received = 0
        for _ in range(len(evs) + 10):  # bounded: each round receives at least one message in practice
            messages = await transport.receive(32, 30.0)
            for m in messages:
                await transport.complete(m)
            received += len(messages)
            if received >= len(evs):
                break
        assert received == len(evs), (received, len(evs))
        return time.perf_counter() - t0
    finally:
        await transport.close()
        await _drop_queues(conn, name, f"{name}-poison")


async def queue_raw(conn: str, evs: list[Event], batch: int) -> float:
    """The SDK calls of `StorageQueueTransport.send/receive/complete` (aos/adapters/azure/queue.py), inline."""
    name = _name("bench")
    client = QueueClient.from_connection_string(conn, name, api_version=STORAGE_API_VERSION)
    await client.create_queue()
    docs = [ev.model_dump(mode="json", exclude_none=True) for ev in evs]
    try:
        t0 = time.perf_counter()
        for doc in docs:
            await client.send_message(base64.b64encode(json.dumps(doc).encode()).decode("ascii"))
        received = 0
        for _ in range(len(evs) + 10):
            got = [m async for m in client.receive_messages(max_messages=32, visibility_timeout=30,
                                                             messages_per_page=32)]
            for m in got:
                base64.b64decode(m.content)
                await client.delete_message(m.id, m.pop_receipt)
            received += len(got)
            if received >= len(evs):
                break
        assert received == len(evs), (received, len(evs))
        return time.perf_counter() - t0
    finally:
        await client.close()
        await _drop_queues(conn, name)
