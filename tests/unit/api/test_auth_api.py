from __future__ import annotations

import httpx
import pytest

from .conftest import agent_body, issue

pytestmark = pytest.mark.anyio


def as_key(api: httpx.AsyncClient, key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {"Authorization": ""}


async def test_missing_unknown_and_revoked_keys_are_401(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/agents", headers={"Authorization": ""})
    assert r.status_code == 401 and "Bearer" in r.json()["detail"] and r.headers["www-authenticate"]
    assert (await api.get("/api/agents", headers=as_key(api, "aos_nope_nope"))).status_code == 401
    assert (await api.get("/api/agents", headers={"Authorization": "Basic abc"})).status_code == 401
    reader = await issue(api, "reader")
    keys = (await api.get("/api/keys")).json()
    key_id = next(k["id"] for k in keys if k["role"] == "reader")
    assert (await api.get("/api/agents", headers=as_key(api, reader))).status_code == 200
    assert (await api.delete(f"/api/keys/{key_id}")).json()["revoked_at"]
    r = await api.get("/api/agents", headers=as_key(api, reader))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


async def test_keys_are_stored_hashed_and_listed_without_secrets(api: httpx.AsyncClient) -> None:
    secret = await issue(api, "operator")
    listing = (await api.get("/api/keys")).text
    assert secret not in listing and "secret" not in listing


async def test_roles(api: httpx.AsyncClient) -> None:
    await api.post("/api/agents", json=agent_body())
    await api.post("/api/agents", json=agent_body("billing"))
    reader, operator = await issue(api, "reader"), await issue(api, "operator")
    agent = await issue(api, "agent", "triage")

    assert (await api.post("/api/agents", json=agent_body("x-1"), headers=as_key(api, reader))).status_code == 403
    assert (await api.post("/api/agents", json=agent_body("x-2"), headers=as_key(api, operator))).status_code == 201
    assert (await api.post("/api/keys", json={"role": "admin"}, headers=as_key(api, operator))).status_code == 403
    ping = {"type": "ping", "source": "x"}
    assert (await api.post("/api/events", json=ping, headers=as_key(api, reader))).status_code == 403

    # an agent key acts only as its agent
    assert (await api.get("/api/agents/triage", headers=as_key(api, agent))).status_code == 200
    r = await api.get("/api/agents/billing", headers=as_key(api, agent))
    assert r.status_code == 403 and "cannot act on agent 'billing'" in r.json()["detail"]
    assert [a["id"] for a in (await api.get("/api/agents", headers=as_key(api, agent))).json()["items"]] == ["triage"]
    assert (await api.post("/api/agents/billing/suspend", headers=as_key(api, agent))).status_code == 403
    sent = await api.post("/api/agents/billing/messages", json={"type": "ping"}, headers=as_key(api, agent))
    assert sent.status_code == 202
    msg = (await api.get("/api/events")).json()["items"][0]["event"]
    assert msg["aossender"] == "triage" and msg["source"] == "aos://agents/triage"


async def test_agent_keys_need_an_existing_agent(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/keys", json={"role": "agent"})
    assert r.status_code == 422 and "agent_id" in r.json()["detail"]
    assert (await api.post("/api/keys", json={"role": "agent", "agent_id": "ghost"})).status_code == 404
    assert (await api.post("/api/keys", json={"role": "root"})).status_code == 422


async def test_tenant_comes_from_the_key(api: httpx.AsyncClient, system) -> None:  # type: ignore[no-untyped-def]
    from aos.model import Role

    _, other_admin = await system.keys.issue("globex", Role.ADMIN)
    await api.post("/api/agents", json=agent_body())
    theirs = {"Authorization": f"Bearer {other_admin}"}
    assert (await api.get("/api/agents/triage", headers=theirs)).status_code == 404
    assert (await api.get("/api/agents", headers=theirs)).json()["items"] == []
    r = await api.post("/api/agents", json=agent_body(), headers=theirs)
    assert r.status_code == 201 and r.json()["tenant"] == "globex"


async def test_only_an_agent_key_makes_an_event_come_from_an_agent(api: httpx.AsyncClient) -> None:
    """`aossender` marks an agent's emission (egress forwards those, brains trust it): nobody else may forge it."""
    await api.post("/api/agents", json=agent_body())
    operator, agent = await issue(api, "operator"), await issue(api, "agent", "triage")
    forged = {"type": "ping", "source": "x", "aossender": "triage"}
    for body in (forged, [forged]):
        r = await api.post("/api/events", json=body, headers=as_key(api, operator))
        assert r.status_code == 422 and "aossender" in r.json()["detail"]
    r = await api.post("/api/events", content=b"{}", headers={
        **as_key(api, operator), "ce-id": "1", "ce-source": "x", "ce-type": "ping", "ce-specversion": "1.0",
        "ce-aossender": "triage", "content-type": "application/json"})
    assert r.status_code == 422
    r = await api.post("/api/events", json={**forged, "aossender": "billing"}, headers=as_key(api, agent))
    assert r.status_code == 202
    sent = (await api.get("/api/events")).json()["items"][0]["event"]
    assert sent["aossender"] == "triage", "an agent key's events always carry its own agent"


async def test_idempotency_keys_belong_to_one_credential(api: httpx.AsyncClient) -> None:
    await api.post("/api/agents", json=agent_body())
    await api.post("/api/agents", json=agent_body("billing"))
    await api.post("/api/agents", json=agent_body("desk"))
    triage, billing = await issue(api, "agent", "triage"), await issue(api, "agent", "billing")
    same = {"Idempotency-Key": "msg-1"}
    first = await api.post("/api/agents/desk/messages", json={"type": "ping"}, headers={**as_key(api, triage), **same})
    again = await api.post("/api/agents/desk/messages", json={"type": "ping"}, headers={**as_key(api, triage), **same})
    assert again.headers.get("idempotent-replayed") == "true" and again.json() == first.json()
    other = await api.post("/api/agents/desk/messages", json={"type": "ping"}, headers={**as_key(api, billing), **same})
    assert other.status_code == 202 and "idempotent-replayed" not in other.headers
    assert other.json()["id"] != first.json()["id"], "billing's message is its own, not a replay of triage's"
    senders = {e["event"].get("aossender") for e in (await api.get("/api/events")).json()["items"]}
    assert {"triage", "billing"} <= senders
