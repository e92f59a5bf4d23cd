"""Azurite (Blob/Queue/Table) for the integration and contract tests.

Started once per session on free loopback ports, in memory (nothing left on disk), through the same launcher
`aos up --backend azure-local` uses (`aos.adapters.azure.factory.emulators`). Tests use fresh names
(`fresh_name`) so they never see each other's containers, tables or queues. If Azurite is not installed the
fixture fails with what to run (`npm ci`): an integration test that silently skips would prove nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from aos.adapters.azure.factory.emulators import (
    azurite_connection_string,
    ensure_azurite,
    free_port,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Azurite:
    connection_string: str
    ports: tuple[int, int, int]


def fresh_name(prefix: str = "t") -> str:
    """A name valid for a container, a queue and a table (lowercase letters and digits, 3-63 chars)."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    ports = (free_port(), free_port(), free_port())
    data: Path = tmp_path_factory.mktemp("azurite")
    emulator = _in_thread(lambda: ensure_azurite(data, ports, in_memory=True))  # type: ignore[arg-type]
    try:
        yield Azurite(azurite_connection_string(ports), ports)  # type: ignore[arg-type]
    finally:
        _in_thread(emulator.stop)


def _in_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop: session fixtures may be first requested from inside a
    running test loop (`request.getfixturevalue` in an async fixture), where `asyncio.run` is refused."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result(timeout=60)


async def azurite_stores(azurite: Azurite, backend: str, clock: object) -> object:
    """Stores for the contract suites on Azurite, fresh container/tables per call.

    `azurite`: the Blob BlobStore; `azurite-tables`: the Table AgentRegistry and StateStore plus the Blob
    BlobStore. Every other port (mailbox, keys, idempotency, context) is the in-memory adapter of
    `aos.adapters.embedded`: these backends implement only those ports, and the contract conftest runs only
    the suites of the ports they implement on them.
    """
    from aos.adapters.azure.blob import open_blob_store
    from aos.adapters.azure.credentials import StorageTarget
    from aos.adapters.azure.tables import TableAgentRegistry, TableStateStore, open_table
    from aos.adapters.embedded import open_memory

    target = StorageTarget(connection_string=azurite.connection_string)
    stores = open_memory(clock)  # type: ignore[arg-type]
    closers = []

    async def close() -> None:
        for closer in closers:
            await closer()

    try:
        blobs = await open_blob_store(target, container=fresh_name("c"))
        stores.blobs = blobs
        closers.append(blobs.close)
        if backend == "azurite-tables":
            agents, state = fresh_name("agents"), fresh_name("state")
            registry_api = await open_table(target, agents)
            closers.append(registry_api.close)
            state_api = await open_table(target, state)
            closers.append(state_api.close)
            stores.registry = TableAgentRegistry(registry_api, agents)
            stores.state = TableStateStore(state_api, state)
    except BaseException:
        await close()
        raise

    stores.close = close
    return stores
