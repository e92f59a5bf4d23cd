from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aos.adapters.embedded import ManualClock, open_memory, open_sqlite
from aos.brains import Brains
from aos.config import Config
from aos.governance_model import PolicyDocument, PolicyRecord
from aos.kernel import Kernel, NoNotifier
from aos.model import AgentSpec, Event
from aos.ports import Stores
from tests.unit.governance import brains

TENANT = "acme"


@pytest.fixture(autouse=True)
def _reset() -> None:
    brains.SEEN.clear()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["memory", "sqlite"])
async def stores(request: Any, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Stores]:
    s = open_memory(clock) if request.param == "memory" else await open_sqlite(tmp_path, clock=clock)
    yield s
    await s.close()


@pytest.fixture
async def kernel(stores: Stores) -> AsyncIterator[Kernel]:
    b = Brains(Config())
    yield Kernel(stores, b, notifier=NoNotifier())
    await b.aclose()


def spec(agent_id: str, entry: str = "scripted", **extra: Any) -> AgentSpec:
    body: dict[str, Any] = {"id": agent_id, "brain": {"kind": "python", "settings": {
        "entrypoint": f"tests.unit.governance.brains:{entry}"}}}
    body.update(extra)
    return AgentSpec.model_validate(body)


def to(agent: str, *effects: dict[str, Any], **extra: Any) -> Event:
    return Event.model_validate({"source": "test", "type": "do", "aostarget": agent,
                                 "data": {"effects": list(effects)}, **extra})


async def put_policy(kernel: Kernel, name: str, doc: dict[str, Any]) -> PolicyRecord:
    assert kernel.governance is not None
    record = PolicyRecord(tenant=TENANT, name=name, version=0, document=PolicyDocument.model_validate(doc),
                          updated_at=kernel.stores.clock.now())
    return await kernel.governance.put_policy(record, None)
