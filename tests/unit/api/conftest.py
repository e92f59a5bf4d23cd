from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aos.api import create_app
from aos.config import Config
from aos.runtime import System

ADMIN = "test-admin-key-0123456789"


@pytest.fixture
async def system() -> AsyncIterator[System]:
    async with System.open(Config(backend="memory", admin_key=ADMIN, default_tenant="acme")) as sys:
        yield sys


@pytest.fixture
async def api(system: System) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(system))
    async with httpx.AsyncClient(transport=transport, base_url="http://aos",
                                 headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        yield client


@pytest.fixture
async def embedded_api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    config = Config(backend="embedded", data_dir=tmp_path, admin_key=ADMIN, default_tenant="acme")
    async with System.open(config) as system:
        transport = httpx.ASGITransport(app=create_app(system))
        async with httpx.AsyncClient(transport=transport, base_url="http://aos",
                                     headers={"Authorization": f"Bearer {ADMIN}"}) as client:
            yield client


def agent_body(agent_id: str = "triage", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": agent_id,
        "purpose": "route things",
        "brain": {"kind": "scripted", "settings": {"rules": [
            {"match": {"type": "ping"}, "then": [{"emit": {"type": "pong", "data": "{{ event.data }}"}}]}]}},
        "subscriptions": [{"type": "ping"}],
    }
    body.update(extra)
    return body


async def issue(api: httpx.AsyncClient, role: str, agent_id: str | None = None) -> str:
    r = await api.post("/api/keys", json={"role": role, "agent_id": agent_id})
    assert r.status_code == 201, r.text
    return str(r.json()["secret"])
