"""A python brain whose module fails as it is imported (a syntax error, an error in its top-level code, a
missing dependency, `sys.exit`): registering it is a 422 that says so, and an agent whose module breaks after
it registered fails its step with that reason. Both used to escape: a 500 at registration, and at the step an
error the host logged and the sweep retried for ever."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from aos.runtime import System

pytestmark = pytest.mark.anyio

BROKEN = {
    "syntax": ("def decide(ctx, events)\n    return None\n", "raised SyntaxError (line 1): expected ':'"),
    "raises": ("raise RuntimeError('needs its config file')\n", "raised RuntimeError: needs its config file"),
    "missing": ("import not_installed_anywhere_x\n", "No module named 'not_installed_anywhere_x'"),
    "exits": ("import sys\nsys.exit(3)\n", "raised SystemExit: 3"),
}


def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    name = f"brain_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@pytest.mark.parametrize("case", sorted(BROKEN))
async def test_registering_a_module_that_fails_to_import_is_a_422(
        case: str, api: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, says = BROKEN[case]
    name = module(tmp_path, monkeypatch, source)
    r = await api.post("/api/agents", json={"id": "broken", "brain": {"kind": "python", "settings": {
        "entrypoint": f"{name}:decide"}}})
    assert r.status_code == 422, r.text
    assert f"cannot load python brain entrypoint '{name}:decide'" in r.json()["detail"]
    assert says in r.json()["detail"]
    assert (await api.get("/api/agents/broken")).status_code == 404  # nothing stored
    assert name not in sys.modules  # a fixed module imports on the next try


async def test_a_module_that_breaks_after_registration_fails_the_step_with_the_reason(
        system: System, api: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = module(tmp_path, monkeypatch, "def decide(ctx, events):\n    return None\n")
    body = {"id": "fragile", "subscriptions": [{"type": "ping"}],
            "brain": {"kind": "python", "settings": {"entrypoint": f"{name}:decide"}}}
    assert (await api.post("/api/agents", json=body)).status_code == 201
    # as after a restart with a broken file: nothing cached, the module is imported again at the first step
    (tmp_path / f"{name}.py").write_text(BROKEN["raises"][0])
    sys.modules.pop(name, None)
    system.kernel._brain_cache.clear()
    assert (await api.post("/api/events", json={"specversion": "1.0", "id": "e-1", "type": "ping",
                                                "source": "test"})).status_code in (200, 202)
    for _ in range(200):  # the runtime runs the step
        steps = (await api.get("/api/agents/fragile/steps")).json()["items"]
        if steps:
            break
        await asyncio.sleep(0.02)
    [step] = steps
    assert step["status"] == "failed", step
    assert "raised RuntimeError: needs its config file" in step["error"]


@pytest.mark.parametrize("entrypoint", [":decide", ".relative:decide", "a..b:decide", "x:"])
async def test_entrypoints_that_name_no_module_are_a_422(entrypoint: str, api: httpx.AsyncClient) -> None:
    """An empty or relative module name made `import_module` raise ValueError/TypeError: a 500 before."""
    r = await api.post("/api/agents", json={"id": "nameless", "brain": {"kind": "python", "settings": {
        "entrypoint": entrypoint}}})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"cannot load python brain entrypoint '{entrypoint}'")
