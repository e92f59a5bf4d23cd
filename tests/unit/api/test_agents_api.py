from __future__ import annotations

import asyncio

import httpx
import pytest

from aos.runtime import System

from .conftest import ADMIN, agent_body

pytestmark = pytest.mark.anyio
PROBLEM = "application/problem+json"


async def wait_for_steps(api: httpx.AsyncClient, agent: str, n: int) -> list[dict]:  # type: ignore[type-arg]
    async with asyncio.timeout(10):
        while True:
            items = (await api.get(f"/api/agents/{agent}/steps")).json()["items"]
            if len([s for s in items if s["status"] == "done"]) >= n:
                return items  # type: ignore[no-any-return]
            await asyncio.sleep(0.01)


async def test_register_publish_wake_act(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/agents", json=agent_body())
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "active" and r.json()["links"]["context"] == "/mcp/agents/triage"
    r = await api.post("/api/events", json={"specversion": "1.0", "type": "ping", "source": "t", "data": {"n": 1}})
    assert r.status_code == 202 and r.json()["delivered_to"] == ["triage"]
    [step] = await wait_for_steps(api, "triage", 1)
    assert step["events"][0]["data"] == {"n": 1}
    assert step["decision"]["effects"] == [{"kind": "emit", "type": "pong", "data": {"n": 1}, "subject": None,
                                            "to": None}]
    log = (await api.get("/api/events", params={"type": "pong"})).json()["items"]
    assert [e["event"]["type"] for e in log] == ["pong"] and log[0]["event"]["aossender"] == "triage"


async def test_duplicate_register_is_409_and_idempotency_key_replays(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "reg-1"}
    first = await api.post("/api/agents", json=agent_body(), headers=headers)
    again = await api.post("/api/agents", json=agent_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    conflict = await api.post("/api/agents", json=agent_body())
    assert conflict.status_code == 409 and conflict.headers["content-type"] == PROBLEM
    assert "already exists" in conflict.json()["detail"]
    other = await api.post("/api/agents", json=agent_body("other-one"), headers=headers)
    assert other.status_code == 409 and other.json()["type"].endswith("idempotency-mismatch")


@pytest.mark.parametrize("body, where", [
    ({"id": "Bad Id", "brain": {"kind": "scripted"}}, "body.id"),
    ({"id": "ok-id"}, "body.brain"),
    ({"id": "ok-id", "brain": {"kind": "telepathy"}}, "body.brain.kind"),
    ({"id": "ok-id", "brain": {"kind": "scripted", "settings": {"rules": []}}, "schedule": ["every day"]},
     "body.schedule"),
    ({"id": "ok-id", "brain": {"kind": "scripted", "settings": {"rules": []}}, "schedule": ["0 0 31 2 *"]},
     "body.schedule"),  # no February 31st: it was a 500 (croniter found no next date at activation)
    ({"id": "ok-id", "brain": {"kind": "scripted"}, "colour": "blue"}, "body.colour"),
    ({"id": "ok-id", "brain": {"kind": "python", "settings": {"entrypoint": "os:nope"}}}, None),
    # a rule whose emit could never make a valid event: refused here, not failed at each matching step
    ({"id": "ok-id", "brain": {"kind": "scripted", "settings": {"rules": [{"then": [{"emit": {"type": ["x"]}}]}]}}},
     None),
])
async def test_bad_specs_get_a_problem_and_leave_nothing(api: httpx.AsyncClient, body: dict, where: str | None
                                                         ) -> None:  # type: ignore[type-arg]
    r = await api.post("/api/agents", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    problem = r.json()
    assert problem["status"] == 422 and problem["detail"]
    if where:
        assert where in [e["loc"] for e in problem["errors"]]
    assert (await api.get("/api/agents")).json()["items"] == []


async def test_malformed_json_is_400(api: httpx.AsyncClient) -> None:
    for path in ("/api/agents", "/api/events"):
        r = await api.post(path, content=b"{nope", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.headers["content-type"] == PROBLEM, (path, r.text)


async def test_list_pages_and_filters(api: httpx.AsyncClient) -> None:
    for i in range(7):
        labels = {"team": "red" if i % 2 else "blue"}
        assert (await api.post("/api/agents", json=agent_body(f"agent-{i}", labels=labels))).status_code == 201
    await api.post("/api/agents/agent-3/suspend")
    seen, cursor = [], None
    while True:
        page = (await api.get("/api/agents", params={"limit": 3, **({"cursor": cursor} if cursor else {})})).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"agent-{i}" for i in range(7)]
    red = (await api.get("/api/agents", params={"label": "team=red"})).json()["items"]
    assert [a["id"] for a in red] == ["agent-1", "agent-3", "agent-5"]
    suspended = (await api.get("/api/agents", params={"state": "suspended"})).json()["items"]
    assert [a["id"] for a in suspended] == ["agent-3"]
    assert (await api.get("/api/agents", params={"state": "sleepy"})).status_code == 422
    assert (await api.get("/api/agents", params={"label": "novalue"})).status_code == 422
    assert (await api.get("/api/agents", params={"limit": 0})).status_code == 422


async def test_lifecycle_over_http(api: httpx.AsyncClient, system: System) -> None:
    await api.post("/api/agents", json=agent_body())
    assert (await api.post("/api/agents/triage/suspend")).json()["state"] == "suspended"
    await api.post("/api/agents/triage/messages", json={"type": "ping", "data": 1})
    assert (await api.get("/api/agents/triage")).json()["pending"] == 1
    again = await api.post("/api/agents/triage/suspend")
    assert again.status_code == 409 and again.json()["type"].endswith("invalid-transition")
    assert (await api.post("/api/agents/triage/resume")).json()["state"] == "active"
    await wait_for_steps(api, "triage", 1)
    gone = await api.delete("/api/agents/triage")
    assert gone.json() == {"agent": "triage", "state": "retired", "purged": False}
    purged = (await api.delete("/api/agents/triage", params={"purge": "true"})).json()
    assert purged["purged"] is True and purged["removed"]["mailbox_rows"] >= 1
    assert (await api.get("/api/agents/triage")).status_code == 404
    assert (await api.post("/api/agents/ghost/resume")).status_code == 404


async def test_messages_and_event_ids_are_idempotent(api: httpx.AsyncClient) -> None:
    await api.post("/api/agents", json=agent_body())
    first = (await api.post("/api/agents/triage/messages", json={"type": "ping", "id": "m-1"})).json()
    second = (await api.post("/api/agents/triage/messages", json={"type": "ping", "id": "m-1"})).json()
    assert first["duplicate"] is False and second["duplicate"] is True
    assert (await api.post("/api/agents/nobody/messages", json={"type": "ping"})).status_code == 404
    bad = await api.post("/api/agents/triage/messages", json={"type": "bad type!"})
    assert bad.status_code == 422


async def test_events_batch_and_binary_mode(api: httpx.AsyncClient) -> None:
    await api.post("/api/agents", json=agent_body())
    batch = [{"type": "ping", "source": "t", "id": f"b{i}"} for i in range(3)]
    r = await api.post("/api/events", json=batch, headers={"content-type": "application/cloudevents-batch+json"})
    assert r.status_code == 202 and [x["id"] for x in r.json()] == ["b0", "b1", "b2"]
    bad_batch = [{"type": "ping", "source": "t", "id": "c1"}, {"type": "ping"}]
    r = await api.post("/api/events", json=bad_batch)
    assert r.status_code == 422 and "event [1]" in r.json()["detail"]
    assert all(e["event"]["id"] != "c1" for e in (await api.get("/api/events")).json()["items"])
    r = await api.post("/api/events", content=b'{"x": 1}', headers={
        "ce-id": "bin-1", "ce-type": "ping", "ce-source": "curl", "ce-specversion": "1.0",
        "content-type": "application/json"})
    assert r.status_code == 202 and r.json()["id"] == "bin-1"


async def test_an_events_batch_is_accepted_whole_or_not_at_all(api: httpx.AsyncClient) -> None:
    await api.post("/api/agents", json=agent_body())
    await api.post("/api/agents", json=agent_body("gone"))
    assert (await api.delete("/api/agents/gone")).status_code == 200  # retired: receives nothing
    ok = {"type": "ping", "source": "t", "id": "w0"}
    for bad, status in (({"id": "w1", "aostarget": "nobody"}, 404), ({"id": "w2", "aostarget": "gone"}, 409)):
        r = await api.post("/api/events", json=[ok, {"type": "ping", "source": "t", **bad}])
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await api.get("/api/events")).json()["items"] == []  # w0 was not accepted either
    r = await api.post("/api/events", json=[ok, {**ok, "id": "w3"}, ok])
    assert r.status_code == 202 and [x["duplicate"] for x in r.json()] == [False, False, True]
    assert [x["delivered_to"] for x in r.json()] == [["triage"]] * 3


async def test_openapi_and_health_are_served(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/api/openapi.json")).json()
    assert {"/api/agents", "/api/events", "/api/keys", "/api/health"} <= set(spec["paths"])
    health = await api.get("/api/health", headers={"Authorization": ""})
    assert health.status_code == 200 and health.json()["status"] == "ok"
    lag = health.json()["runtime"]["loop_lag"]  # the event-loop watch (AOS_LOOP_LAG_WARN_MS) is on by default
    assert lag["threshold_ms"] == 100.0 and lag["lags"] == 0
    assert lag["watching"] is False  # from boot on only in `aos up` (`watch_loop`, tested end to end)
    assert (await api.get("/api/nothing-here")).headers["content-type"] == PROBLEM


async def test_text_that_is_not_unicode_is_a_400_whichever_unicode_error_says_so(system: System) -> None:
    from aos.api import create_app

    app = create_app(system)

    @app.get("/api/raise-unicode/{which}")
    async def raising(which: str) -> None:
        if which == "bare":  # the idna codec raises a bare UnicodeError, which has no `reason` (was a 500)
            raise UnicodeError("label empty or too long")
        b"\xff".decode()

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aos") as client:
        for which, words in (("bare", "label empty or too long"), ("decode", "invalid start byte")):
            r = await client.get(f"/api/raise-unicode/{which}", headers={"Authorization": f"Bearer {ADMIN}"})
            assert r.status_code == 400 and r.headers["content-type"] == PROBLEM, r.text
            assert words in r.json()["detail"]


async def test_concurrent_requests_with_one_idempotency_key_all_get_the_first_answer(
    embedded_api: httpx.AsyncClient,
) -> None:
    # a client retrying on a timeout while its first request still runs: the retry used to do the work again
    # and answer its conflict ("agent already exists") instead of the first answer (on SQLite, where the
    # requests interleave)
    api = embedded_api
    answers = await asyncio.gather(*[api.post("/api/agents", json=agent_body(), headers={"Idempotency-Key": "k1"})
                                     for _ in range(8)])
    assert [r.status_code for r in answers] == [201] * 8
    assert len({r.text for r in answers}) == 1
    assert sorted(r.headers.get("idempotent-replayed") for r in answers if r.headers.get("idempotent-replayed")) \
        == ["true"] * 7
