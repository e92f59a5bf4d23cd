from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aos.adapters.embedded import ManualClock, open_memory, open_sqlite
from aos.brains import Brains
from aos.config import Config
from aos.kernel import Kernel, NoNotifier
from aos.model import AgentSpec, Event
from aos.ports import Stores
from tests.unit.kernel import brains_for_tests

TENANT = "acme"


@pytest.fixture(autouse=True)
def _reset_brains() -> None:
    brains_for_tests.reset()


@pytest.fixture(params=["memory", "sqlite"])
async def stores(request: Any, tmp_path: Path) -> AsyncIterator[Stores]:
    clock = ManualClock()
    s = open_memory(clock) if request.param == "memory" else await open_sqlite(tmp_path, clock=clock)
    yield s
    await s.close()


@pytest.fixture
async def kernel(stores: Stores) -> AsyncIterator[Kernel]:
    brains = Brains(Config())
    yield Kernel(stores, brains, notifier=NoNotifier())
    await brains.aclose()


def spec(agent_id: str, entry: str = "noop", **extra: Any) -> AgentSpec:
    body: dict[str, Any] = {
        "id": agent_id,
        "brain": {"kind": "python", "settings": {"entrypoint": f"tests.unit.kernel.brains_for_tests:{entry}"}},
    }
    body.update(extra)
    return AgentSpec.model_validate(body)


def event(type_: str = "thing.happened", **extra: Any) -> Event:
    return Event.model_validate({"source": "test", "type": type_, **extra})


async def drain(kernel: Kernel, key: str, limit: int = 50) -> int:
    """Run steps for `key` until it has no mail; returns how many ran."""
    ran = 0
    while ran < limit and await kernel.run_step(key) is not None:
        ran += 1
    return ran
