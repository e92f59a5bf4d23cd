"""The Cosmos DB emulator (@vercel/cosmosdb-server) for the integration and contract tests.

`cosmos_endpoint` (session): starts `node_modules/.bin/cosmosdb-server --no-ssl` on a free loopback port (port 0:
the server picks one and prints it), waits for its "Ready" line (bounded), yields `http://127.0.0.1:PORT`, and
stops it at the end. `cosmos` (per test): a `Cosmos` on a fresh database with the infra containers, dropped after.

Marker `emulator_gap("...")`: the test exercises something the emulator does not do like real Cosmos; the reason
names the gap. Tests so marked are `xfail(strict=True)` on the emulator: if the emulator ever closes the gap,
the strict xfail fails and the mark must go.
"""

from __future__ import annotations

import re
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aos.adapters.azure.cosmos import Cosmos, SdkCosmosApi, cosmos_stores, open_cosmos
from aos.adapters.embedded import MemoryBlobStore
from aos.ports import BlobStore, Clock, Stores

ROOT = Path(__file__).resolve().parents[2]
#: Any base64 string is a key to @vercel/cosmosdb-server (it does not check signatures).
EMULATOR_KEY = "QU9TLWNvc21vcy1lbXVsYXRvci1rZXk="
START_TIMEOUT_S = 30.0
_READY = re.compile(rb"Ready to accept HTTPS? connections at [^:]+:(\d+)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "emulator_gap(reason): fails on the Cosmos emulator because of a named emulator gap (strict xfail)"
    )
    config.addinivalue_line(
        "markers", "real_behaviour(name): which real-Cosmos behaviour an emulator_gap test switches on"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        mark = item.get_closest_marker("emulator_gap")
        if mark is None:
            continue
        callspec = getattr(item, "callspec", None)
        on_emulator = callspec is None or "cosmos" in callspec.id.split("-")
        if on_emulator:
            reason = mark.args[0] if mark.args else "emulator gap"
            item.add_marker(pytest.mark.xfail(reason=f"Cosmos emulator gap: {reason}", strict=True))


def _wait_ready(proc: subprocess.Popen[bytes]) -> int:
    """Read the server's stdout until its Ready line (bounded); keep draining it afterwards."""
    found: list[int] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            m = _READY.search(line)
            if m and not found:
                found.append(int(m.group(1)))
                ready.set()
        ready.set()

    threading.Thread(target=pump, name="cosmosdb-server-stdout", daemon=True).start()  # ends at EOF
    if not ready.wait(START_TIMEOUT_S) or not found:
        proc.kill()
        raise RuntimeError(f"cosmosdb-server did not start within {START_TIMEOUT_S}s (exit code {proc.poll()})")
    return found[0]


@pytest.fixture(scope="session")
def cosmos_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = ROOT / "node_modules" / ".bin" / "cosmosdb-server"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run `npm ci` in {ROOT}")
    log = tmp_path_factory.mktemp("cosmos") / "cosmosdb-server.stderr.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [str(exe), "--no-ssl", "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE, stderr=err
        )
    try:
        port = _wait_ready(proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


async def open_test_cosmos(endpoint: str, **kwargs: object) -> Cosmos:
    """A `Cosmos` on a fresh database (unique name) with the infra containers."""
    return await open_cosmos(
        endpoint, f"t{uuid.uuid4().hex[:16]}", key=EMULATOR_KEY, emulator=True, create_containers=True, **kwargs
    )


async def drop_database(cosmos: Cosmos) -> None:
    api = cosmos.api
    assert isinstance(api, SdkCosmosApi)
    await api.drop_database()


@pytest.fixture
async def cosmos(cosmos_endpoint: str) -> AsyncIterator[Cosmos]:
    opened = await open_test_cosmos(cosmos_endpoint)
    try:
        yield opened
    finally:
        await drop_database(opened)
        await opened.close()


async def cosmos_contract_stores(endpoint: str, clock: Clock, blobs: BlobStore | None = None) -> Stores:
    """Stores for the contract suites: every Cosmos adapter on a fresh database, plus an in-memory BlobStore for
    blobs (Blob storage is the Azurite backend's part) unless `blobs` is given. `close` drops the database."""
    opened = await open_test_cosmos(endpoint)
    stores = cosmos_stores(opened, blobs or MemoryBlobStore(), clock)

    async def close() -> None:
        try:
            await drop_database(opened)
        finally:
            await opened.close()

    stores.close = close
    return stores
