"""Fixtures for the function app: embedded storage per test, and a fake Durable extension.

The Functions host cannot run here. Triggers are called as the Python worker calls them (the registered
function with real `azure.functions` objects, the durable client binding as its JSON string), so the SDK's
own `DurableOrchestrationClient` is built and used. Its HTTP calls to the Durable extension are the fake
boundary: `FakeDurableExtension` answers them with the extension's status codes and keeps an instance table,
recording every call. (It replaces the SDK's three module-level HTTP helpers, which is where the SDK itself
reads them at client construction.)
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from aos.hosting.system import close_system, hosted_system
from aos.runtime import System

ADMIN = "functions-admin-key-0123456789"
TENANT = "acme"
RPC = "http://127.0.0.1:17071/durabletask/"
BINDING = json.dumps({"taskHubName": "aos", "creationUrls": {}, "managementUrls": {}, "rpcBaseUrl": RPC})


@dataclass
class FakeDurableExtension:
    """The Durable extension's management API as the Python SDK sees it: (status code, JSON body)."""

    instances: dict[str, str] = field(default_factory=dict)  # instance id → runtime status
    calls: list[tuple[str, str]] = field(default_factory=list)  # (operation, instance id)
    drop_wakes: bool = False  # accept raise_event but lose it (a wake during continue_as_new)

    def ops(self, op: str) -> list[str]:
        return [instance for name, instance in self.calls if name == op]

    async def post(self, url: str, data: Any = None, trace_parent: Any = None, trace_state: Any = None,
                   function_invocation_id: Any = None) -> list[Any]:
        parts = urlparse(url).path.split("/durabletask/", 1)[1].split("/")
        if parts[0] == "orchestrators":
            instance = parts[2]
            self.calls.append(("start_new", instance))
            if self.instances.get(instance) in ("Running", "Pending"):
                return [409, f"An instance with ID '{instance}' already exists."]
            self.instances[instance] = "Running"
            return [202, {"id": instance}]
        instance, action = parts[1], parts[2]
        if action == "raiseEvent":
            self.calls.append((f"raise_event:{parts[3]}", instance))
            if instance not in self.instances:
                return [404, None]
            if self.instances[instance] not in ("Running", "Pending"):
                return [410, None]
            if self.drop_wakes:
                self.calls[-1] = ("raise_event:lost", instance)
            return [202, None]
        assert action == "terminate", url
        self.calls.append(("terminate", instance))
        reason = parse_qs(urlparse(url).query).get("reason", [""])[0]
        assert reason, "terminate carries a reason"
        if instance not in self.instances:
            return [404, None]
        if self.instances[instance] != "Running":
            return [410, None]
        self.instances[instance] = "Terminated"
        return [202, None]

    async def get(self, url: str, function_invocation_id: Any = None) -> list[Any]:
        instance = urlparse(url).path.rstrip("/").rsplit("/", 1)[1]
        self.calls.append(("get_status", instance))
        if instance not in self.instances:
            return [404, {}]
        status = self.instances[instance]
        body = {"name": "agent_orchestrator", "instanceId": instance, "runtimeStatus": status}
        return [202 if status == "Running" else 200, body]

    async def delete(self, url: str, function_invocation_id: Any = None) -> list[Any]:
        instance = urlparse(url).path.rstrip("/").rsplit("/", 1)[1]
        self.calls.append(("purge", instance))
        existed = self.instances.pop(instance, None) is not None
        return [200, {"instancesDeleted": 1}] if existed else [404, None]


@pytest.fixture
def durable(monkeypatch: pytest.MonkeyPatch) -> FakeDurableExtension:
    fake = FakeDurableExtension()
    module = sys.modules["azure.durable_functions.models.DurableOrchestrationClient"]
    monkeypatch.setattr(module, "post_async_request", fake.post)
    monkeypatch.setattr(module, "get_async_request", fake.get)
    monkeypatch.setattr(module, "delete_async_request", fake.delete)
    return fake


@pytest.fixture
async def hosted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[System]:
    """The function app's process-wide system, on embedded SQLite in a fresh directory."""
    monkeypatch.setenv("AOS_BACKEND", "embedded")
    monkeypatch.setenv("AOS_DATA_DIR", str(tmp_path / "aos"))
    monkeypatch.setenv("AOS_ADMIN_KEY", ADMIN)
    monkeypatch.setenv("AOS_DEFAULT_TENANT", TENANT)
    monkeypatch.setenv("AOS_RESTART_BACKOFF_S", "0")
    await close_system()
    system = await hosted_system()
    yield system
    await close_system()


@pytest.fixture(scope="session")
def functions() -> dict[str, Any]:
    """`function_app.app.get_functions()` by name. The SDK's `get_functions` indexes (and validates) once per
    app, as the worker does at start-up; a second call reports every function as a duplicate."""
    import function_app

    return {f.get_function_name(): f for f in function_app.app.get_functions()}


@pytest.fixture
def function(functions: dict[str, Any]) -> Callable[[str], Any]:
    """The registered function by name, as the worker invokes it."""
    return lambda name: functions[name].get_user_function()
