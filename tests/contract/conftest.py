"""The backends every contract test runs against.

Adding a backend (Azurite, the Cosmos emulator) is one more entry in `BACKENDS` and one more branch in
`_open`; the tests themselves never name a backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aos.adapters.embedded import ManualClock, open_memory, open_sqlite
from aos.ports import Stores

BACKENDS = ["memory", "sqlite", pytest.param("cosmos", marks=pytest.mark.integration)]
#: Backends that implement only some ports (the rest are in-memory adapters): they run only the contract
#: modules named here (see tests/emulators/azurite.py `azurite_stores`).
PARTIAL_BACKENDS = {
    "azurite": ("test_blob_store",),
    "azurite-tables": ("test_agent_registry", "test_state_store"),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "stores" in metafunc.fixturenames:
        module = metafunc.module.__name__.rsplit(".", 1)[-1]
        extra = [b for b, modules in PARTIAL_BACKENDS.items() if module in modules]
        metafunc.parametrize("stores", BACKENDS + extra, indirect=True)


async def _open(backend: str, tmp_path: Path, clock: ManualClock) -> Stores:
    if backend == "memory":
        return open_memory(clock)
    if backend == "sqlite":
        return await open_sqlite(tmp_path / "data", clock=clock)
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def stores(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Stores]:
    if request.param in PARTIAL_BACKENDS:
        from tests.emulators.azurite import azurite_stores

        opened: Stores = await azurite_stores(request.getfixturevalue("azurite"), request.param, clock)  # type: ignore[assignment]
    elif request.param == "cosmos":
        from tests.emulators.cosmos import cosmos_contract_stores

        opened = await cosmos_contract_stores(request.getfixturevalue("cosmos_endpoint"), clock)
    else:
        opened = await _open(request.param, tmp_path, clock)
    try:
        yield opened
    finally:
        await opened.close()
