"""Governance over HTTP: policies (schema, versions, YAML), 403 problems naming the rule, simulate, approvals,
usage, the audit log and its verification, with no secret in any record."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aos.api import create_app
from aos.config import Config
from aos.runtime import System

pytestmark = pytest.mark.anyio
ADMIN = "test-admin-key-0123456789"
ACTOR = {"id": "actor", "brain": {"kind": "python", "settings": {
    "entrypoint": "tests.unit.governance.brains:scripted"}}, "labels": {"tier": "untrusted"}}


@pytest.fixture(params=["memory", "embedded", pytest.param("cosmos", marks=pytest.mark.integration)])
async def system(request: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[System]:
    """`cosmos`: the azure-local stores (Cosmos emulator) with in-memory blobs instead of Azurite."""
    config = Config(backend="memory" if request.param == "cosmos" else request.param, admin_key=ADMIN,
                    default_tenant="acme", data_dir=tmp_path)
    if request.param == "cosmos":
        from aos.adapters.embedded.clock import SystemClock
        from aos.runtime import system as system_module
        from tests.emulators.cosmos import cosmos_contract_stores

        endpoint = request.getfixturevalue("cosmos_endpoint")

        async def cosmos_stores(config: Config) -> Any:
            return await cosmos_contract_stores(endpoint, SystemClock())

        monkeypatch.setattr(system_module, "open_stores", cosmos_stores)
    async with System.open(config, run=False) as sys:
        yield sys


@pytest.fixture
async def api(system: System) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(system))
    async with httpx.AsyncClient(transport=transport, base_url="http://aos",
                                 headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        yield client


async def key(api: httpx.AsyncClient, role: str, agent_id: str | None = None) -> dict[str, str]:
    r = await api.post("/api/keys", json={"role": role, "agent_id": agent_id})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['secret']}"}


async def test_policies_are_versioned_accept_yaml_and_publish_their_schema(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/api/policies/schema")).json()
    assert "rules" in schema["properties"]
    r1 = await api.put("/api/policies/base", json={"rules": [{"id": "a", "actions": ["agents.*"], "effect": "allow"}]})
    assert r1.status_code == 200 and r1.json()["version"] == 1
    yaml_doc = "description: v2\nrules:\n  - id: b\n    actions: [events.publish]\n    effect: deny\n"
    r2 = await api.put("/api/policies/base", content=yaml_doc, headers={"Content-Type": "application/yaml"})
    assert r2.json()["version"] == 2 and r2.json()["document"]["description"] == "v2"
    assert (await api.get("/api/policies/base", params={"version": 1})).json()["document"]["rules"][0]["id"] == "a"
    assert len((await api.get("/api/policies/base/versions")).json()) == 2
    stale = await api.put("/api/policies/base", params={"if_version": 1}, json={})
    assert stale.status_code == 409
    bad = await api.put("/api/policies/base", json={"rules": [{"id": "x", "actions": ["nope"], "effect": "deny"}]})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert (await api.delete("/api/policies/base")).status_code == 200
    assert (await api.get("/api/policies/base")).status_code == 404
    assert (await api.get("/api/policies")).json() == []


async def test_a_denied_system_call_is_a_403_problem_naming_policy_rule_and_reason(api: httpx.AsyncClient) -> None:
    await api.put("/api/policies/guard", json={"rules": [
        {"id": "no-readers-publishing", "actions": ["events.publish"], "effect": "deny", "reason": "read only",
         "when": {"roles": ["operator"]}},
        {"id": "no-payments", "actions": ["events.publish"], "effect": "deny", "reason": "payments frozen",
         "when": {"event_types": ["payment.*"]}}]})
    op = await key(api, "operator")
    r = await api.post("/api/events", json={"source": "x", "type": "ping"}, headers=op)
    assert r.status_code == 403
    body = r.json()
    assert body["type"].endswith("policy-denied") and body["policy"] == "guard"
    assert body["rule"] == "no-readers-publishing" and body["reason"] == "read only"
    r = await api.post("/api/events", json={"source": "x", "type": "payment.sent"})
    assert r.status_code == 403 and r.json()["rule"] == "no-payments"
    assert (await api.post("/api/events", json={"source": "x", "type": "ping"})).status_code == 202
    audit = (await api.get("/api/audit", params={"kind": "call", "action": "events.publish"})).json()["items"]
    assert [(a["outcome"], a["details"]["status"]) for a in audit] == [("ok", 202), ("denied", 403), ("denied", 403)]
    assert audit[1]["details"]["rule"] == "no-payments"


async def test_tenant_default_deny_is_not_a_lockout_for_policy_admins(api: httpx.AsyncClient) -> None:
    assert (await api.put("/api/policies/lockdown", json={"default": "deny"})).status_code == 200
    assert (await api.get("/api/agents")).status_code == 403
    assert (await api.delete("/api/policies/lockdown")).status_code == 200
    assert (await api.get("/api/agents")).status_code == 200


async def test_every_call_is_audited_once_without_secrets_and_verify_finds_the_chain_intact(
    api: httpx.AsyncClient, system: System
) -> None:
    r = await api.post("/api/keys", json={"role": "operator", "name": "ci"})
    secret = r.json()["secret"]
    await api.post("/api/agents", json=ACTOR)
    await api.post("/api/agents/actor/suspend")
    await api.delete(f"/api/keys/{r.json()['id']}")
    items = (await api.get("/api/audit", params={"limit": 100})).json()["items"]
    actions = [i["action"] for i in reversed(items)]
    assert actions[:6] == ["keys.issue", "agents.register", "agent.activate", "agents.suspend", "agent.suspend",
                           "keys.revoke"]
    dump = json.dumps(items)
    assert secret not in dump and ADMIN not in dump and "Bearer" not in dump
    assert items[-1]["details"]["key_id"] == r.json()["id"]
    verified = (await api.post("/api/audit:verify")).json()
    assert verified["ok"] and verified["records"] >= 6 and verified["first_broken"] is None
    assert (await api.get("/api/audit", headers=await key(api, "reader"))).status_code == 403


async def test_held_effects_are_listed_and_approved_over_http(api: httpx.AsyncClient, system: System) -> None:
    await api.post("/api/agents", json=ACTOR)
    await api.put("/api/policies/hitl", json={"scope": {"labels": {"tier": "untrusted"}}, "rules": [
        {"id": "ask", "actions": ["state.write"], "effect": "require_approval", "reason": "check first"}]})
    await api.post("/api/agents/actor/messages", json={"type": "do", "data": {"effects": [
        {"kind": "state", "set": {"paid": True}}]}})
    await system.kernel.run_step("acme/actor")
    [pending] = (await api.get("/api/approvals")).json()
    assert pending["reason"] == "check first" and pending["action"] == "state.write"
    reader = await key(api, "reader")
    assert (await api.post(f"/api/approvals/{pending['id']}:approve", headers=reader)).status_code == 403
    done = await api.post(f"/api/approvals/{pending['id']}:approve", json={"note": "fine"})
    assert done.status_code == 200 and done.json()["applied"] is True
    assert (await api.get("/api/agents/actor/state")).json()["state"] == {"paid": True}
    assert (await api.post(f"/api/approvals/{pending['id']}:reject")).status_code == 409
    assert (await api.get("/api/approvals")).json() == []


async def test_usage_reports_consumption_against_budgets(api: httpx.AsyncClient, system: System) -> None:
    await api.post("/api/agents", json=ACTOR)
    await api.put("/api/policies/budget", json={"budgets": [
        {"metric": "steps", "period": "hour", "limit": 10},
        {"metric": "events", "period": "day", "limit": 100, "per": "tenant"}]})
    await api.post("/api/agents/actor/messages", json={"type": "do", "data": {"effects": [
        {"kind": "emit", "type": "x.y"}]}})
    await system.kernel.run_step("acme/actor")
    mine = (await api.get("/api/agents/actor/usage")).json()
    assert mine["usage"]["hour"]["steps"] == 1 and mine["usage"]["day"]["events"] == 1
    assert {(b["metric"], b["used"], b["remaining"]) for b in mine["budgets"]} == {("steps", 1, 9),
                                                                                  ("events", 1, 99)}
    tenant = (await api.get("/api/usage")).json()
    assert tenant["usage"]["minute"]["steps"] == 1
    await api.post("/api/agents", json={**ACTOR, "id": "other-agent"})
    other = await key(api, "agent", "other-agent")
    assert (await api.get("/api/agents/actor/usage", headers=other)).status_code == 403


async def test_simulate_reports_what_a_draft_would_have_denied_or_held(api: httpx.AsyncClient,
                                                                       system: System) -> None:
    await api.post("/api/agents", json=ACTOR)
    await api.post("/api/agents/actor/messages", json={"type": "do", "data": {"effects": [
        {"kind": "emit", "type": "payment.sent", "data": {"amount": 900}}, {"kind": "note", "text": "hi"}]}})
    await system.kernel.run_step("acme/actor")
    draft = {"rules": [
        {"id": "big", "actions": ["event.emit"], "effect": "deny", "when": {"payload": {"amount": {"gt": 500}}}},
        {"id": "hold-register", "actions": ["agents.register"], "effect": "require_approval"}]}
    r = await api.post("/api/policies/draft:simulate", params={"days": 1}, json=draft)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["would_deny"] == 1 and report["would_hold"] == 1 and report["changed"] == 2
    assert {(i["kind"], i["action"], i["rule"]) for i in report["items"]} == {
        ("effect", "event.emit", "big"), ("call", "agents.register", "hold-register")}
    assert (await api.get("/api/policies/draft")).status_code == 404  # nothing was stored
