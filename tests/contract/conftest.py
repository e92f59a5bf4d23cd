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


async def _open(backend: str, tmp_path: Path, clock: ManualClock) -> Stores:
    if backend == "memory":
        return open_memory(clock)
    if backend == "sqlite":
        return await open_sqlite(tmp_path / "data", clock=clock)
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=BACKENDS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Stores]:
    if request.param == "cosmos":
        from tests.emulators.cosmos import cosmos_contract_stores

        opened = await cosmos_contract_stores(request.getfixturevalue("cosmos_endpoint"), clock)
    else:
        opened = await _open(request.param, tmp_path, clock)
    try:
        yield opened
    finally:
        await opened.close()
