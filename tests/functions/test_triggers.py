"""Each trigger called as the worker calls it, against embedded storage: the event lands in the agent's
mailbox, the agent's orchestration is woken through the durable client, and the `agent_step` activity
makes the agent act (a scripted agent answers `ping` with `pong`, visible in the tenant's event log)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from aos.hosting.instances import instance_id
from aos.inbound import PoisonMessage
from aos.model import AgentState
from aos.runtime import System
from tests.functions.conftest import ADMIN, BINDING, TENANT, FakeDurableExtension

pytestmark = pytest.mark.anyio
Fn = Callable[[str], Any]
KEY = f"{TENANT}/triage"
INSTANCE = instance_id(KEY)


def agent(agent_id: str = "triage", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": agent_id,
        "brain": {"kind": "scripted", "settings": {"rules": [
            {"match": {"type": "ping"}, "then": [{"emit": {"type": "pong", "data": "{{ event.data }}"}}]},
            {"match": {"type": "relay"}, "then": [{"send": {"to": "echo", "type": "ping", "data": 1}}]},
            {"match": {"type": "boom"}, "then": [{"send": {"to": "nobody-here", "type": "x"}}]}]}},
        "subscriptions": [{"type": "ping"}],
    }
    body.update(extra)
    return body


async def call_http(function: Fn, method: str, path: str, body: Any = None) -> func.HttpResponse:
    req = func.HttpRequest(method=method, url=f"https://aos.example{path}", body=json.dumps(body).encode() if
                           body is not None else b"", headers={"authorization": f"Bearer {ADMIN}",
                                                               "content-type": "application/json"})
    response: func.HttpResponse = await function("http")(req=req, context=None, client=BINDING)
    return response


async def register(function: Fn, body: dict[str, Any]) -> None:
    r = await call_http(function, "POST", "/api/agents", body)
    assert r.status_code == 201, r.get_body()


async def pending(system: System, key: str = KEY) -> int:
    return await system.stores.mailbox.pending(key)


async def step(function: Fn, key: str = KEY) -> dict[str, Any]:
    report: dict[str, Any] = await function("agent_step")(key=key, client=BINDING)
    return report


async def event_types(system: System) -> list[str]:
    return [a.event.type for a in await system.kernel.events(TENANT, limit=50)]


def sb(body: bytes, message_id: str, properties: dict[str, Any], content_type: str | None = None
       ) -> ServiceBusMessage:
    """A message as the worker builds it from the host's trigger data."""
    return ServiceBusMessage(body=body, message_id=message_id, delivery_count=1, content_type=content_type,
                             application_properties=properties, user_properties=properties)


def ce(type_: str = "ping", id_: str = "e-1", **extra: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": id_, "source": "urn:test", "type": type_, "data": {"n": 1}, **extra}


async def test_http_register_publish_step_and_lifecycle(hosted: System, durable: FakeDurableExtension,
                                                        function: Fn) -> None:
    await register(function, agent())
    assert durable.ops("start_new") == [INSTANCE], "register starts the agent's orchestration"

    r = await call_http(function, "POST", "/api/events", ce())
    assert r.status_code == 202 and json.loads(r.get_body())["delivered_to"] == ["triage"]
    assert await pending(hosted) == 1
    assert durable.ops("raise_event:wake") == [INSTANCE], "publish wakes the running orchestration"

    report = await step(function)
    assert report["more"] and report["state"] == "active" and report["step"]["status"] == "done"
    assert await pending(hosted) == 0 and "pong" in await event_types(hosted)
    assert not (await step(function))["more"]

    r = await call_http(function, "GET", "/api/events?type=pong")
    assert r.status_code == 200 and json.loads(r.get_body())["items"][0]["event"]["data"] == {"n": 1}

    await call_http(function, "POST", "/api/agents/triage/suspend")
    assert durable.instances[INSTANCE] == "Terminated"
    await call_http(function, "POST", "/api/agents/triage/resume")
    assert durable.instances[INSTANCE] == "Running" and durable.ops("start_new") == [INSTANCE, INSTANCE]
    r = await call_http(function, "DELETE", "/api/agents/triage?purge=true")
    assert r.status_code == 200, r.get_body()
    assert durable.ops("purge") == [INSTANCE] and INSTANCE not in durable.instances


async def test_http_serves_mcp_and_problems_through_the_catch_all(hosted: System, durable: FakeDurableExtension,
                                                                  function: Fn) -> None:
    r = await call_http(function, "GET", "/api/agents/nope")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    assert (await call_http(function, "GET", "/api/health")).status_code == 200
    await register(function, agent())
    req = func.HttpRequest(method="POST", url="https://aos.example/mcp/agents/triage/", headers={
        "authorization": f"Bearer {ADMIN}", "content-type": "application/json",
        "accept": "application/json, text/event-stream"},
        body=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode())
    r = await function("http")(req=req, context=None, client=BINDING)
    assert r.status_code == 200, r.get_body()
    assert json.loads(r.get_body())["result"]["tools"]


async def test_service_bus_structured_and_binary(hosted: System, durable: FakeDurableExtension,
                                                 function: Fn) -> None:
    await register(function, agent())
    msg = sb(json.dumps(ce(id_="sb-1")).encode(), "m1", {"aostenant": TENANT}, "application/json")
    await function("servicebus_ingress")(msg=msg, client=BINDING)
    binary = sb(json.dumps({"n": 2}).encode(), "m2", {
        "cloudEvents:specversion": "1.0", "cloudEvents:id": "sb-2", "cloudEvents:source": "urn:sb",
        "cloudEvents:type": "ping"}, "application/json")
    await function("servicebus_ingress")(msg=binary, client=BINDING)
    assert await pending(hosted) == 2
    assert durable.ops("raise_event:wake") == [INSTANCE, INSTANCE]
    await function("servicebus_ingress")(msg=binary, client=BINDING)  # redelivery: deduplicated
    assert await pending(hosted) == 2


@pytest.mark.parametrize("body, properties, reason", [
    (b"not json", {}, "not JSON"),
    (json.dumps({"id": "x", "type": "ping"}).encode(), {}, "source"),
    (json.dumps(ce(aostenant="Bad Tenant!")).encode(), {}, "tenant"),
    (json.dumps(ce(aostarget="ghost")).encode(), {}, "ghost"),
])
async def test_service_bus_poison_raises_typed_error_and_accepts_nothing(
        hosted: System, durable: FakeDurableExtension, function: Fn, body: bytes, properties: dict[str, Any],
        reason: str) -> None:
    await register(function, agent())
    msg = sb(body, "bad", properties)
    with pytest.raises(PoisonMessage, match=reason):
        await function("servicebus_ingress")(msg=msg, client=BINDING)
    assert await pending(hosted) == 0 and durable.ops("raise_event:wake") == []


async def test_queue_message_and_poison(hosted: System, durable: FakeDurableExtension, function: Fn) -> None:
    await register(function, agent())
    batch = [ce(id_="q-1"), ce(id_="q-2")]
    await function("queue_ingress")(msg=func.QueueMessage(id="1", body=json.dumps(batch)), client=BINDING)
    assert await pending(hosted) == 2
    with pytest.raises(PoisonMessage):
        await function("queue_ingress")(msg=func.QueueMessage(id="2", body="[]"), client=BINDING)
    assert (await step(function))["more"] and "pong" in await event_types(hosted)


async def test_event_grid_both_schemas(hosted: System, durable: FakeDurableExtension, function: Fn) -> None:
    await register(function, agent())
    egs = func.EventGridEvent(id="eg-1", data={"n": 3}, topic="/subscriptions/x/topics/t", subject="s",
                              event_type="ping", event_time=None, data_version="1.0")
    cloud = func.CloudEvent(id="eg-2", source="urn:eg", type="ping", specversion="1.0", data={"n": 4},
                            aostenant=TENANT)
    await function("eventgrid_ingress")(event=egs, client=BINDING)
    await function("eventgrid_ingress")(event=cloud, client=BINDING)
    events = {a.event.id: a.event for a in await hosted.kernel.events(TENANT, limit=10)}
    assert events["eg-1"].source == "/subscriptions/x/topics/t" and events["eg-1"].data == {"n": 3}
    assert events["eg-2"].data == {"n": 4} and "aostenant" not in (events["eg-2"].model_extra or {})
    assert await pending(hosted) == 2


async def test_scheduler_tick_wakes_due_agents(hosted: System, durable: FakeDurableExtension,
                                               function: Fn) -> None:
    await register(function, agent(schedule=["* * * * *"]))
    record = await hosted.kernel.get(TENANT, "triage")
    await hosted.stores.registry.update(record.model_copy(
        update={"next_wake_at": hosted.stores.clock.now() - timedelta(minutes=1)}))
    await function("scheduler_tick")(timer=TimerRequest(past_due=False), client=BINDING)
    assert await pending(hosted) == 1 and "aos.timer" in await event_types(hosted)
    assert durable.ops("raise_event:wake") == [INSTANCE]


async def test_orchestration_timer_delivers_the_due_cron_wake(hosted: System, durable: FakeDurableExtension,
                                                              function: Fn) -> None:
    """When the orchestration's durable timer wins, `agent_step` delivers the due wake itself."""
    await register(function, agent(schedule=["* * * * *"]))
    record = await hosted.kernel.get(TENANT, "triage")
    await hosted.stores.registry.update(record.model_copy(
        update={"next_wake_at": hosted.stores.clock.now() - timedelta(seconds=1)}))
    report = await step(function)
    assert report["more"] and report["next_wake_at"] > hosted.stores.clock.now().isoformat()
    assert "aos.timer" in await event_types(hosted)
    await function("scheduler_tick")(timer=TimerRequest(), client=BINDING)
    assert [t for t in await event_types(hosted) if t == "aos.timer"] == ["aos.timer"], "delivered once"


async def test_lost_wake_is_recovered_by_the_sweep(hosted: System, durable: FakeDurableExtension,
                                                   function: Fn) -> None:
    """A wake raised while the orchestration continues-as-new is dropped; the mail is not."""
    await register(function, agent())
    durable.drop_wakes = True
    await call_http(function, "POST", "/api/events", ce())
    assert durable.ops("raise_event:lost") == [INSTANCE] and await pending(hosted) == 1
    durable.drop_wakes = False
    durable.instances[INSTANCE] = "Completed"  # e.g. its replay failed meanwhile: the sweep restarts it
    await function("self_heal_sweep")(timer=TimerRequest(past_due=True), client=BINDING)
    assert durable.instances[INSTANCE] == "Running" and durable.ops("start_new")[-1] == INSTANCE
    await function("self_heal_sweep")(timer=TimerRequest(), client=BINDING)
    assert durable.ops("raise_event:wake") == [INSTANCE], "a live orchestration gets the wake raised"
    assert (await step(function))["more"] and await pending(hosted) == 0


async def test_agent_step_wakes_the_agents_it_messages(hosted: System, durable: FakeDurableExtension,
                                                       function: Fn) -> None:
    await register(function, agent())
    await register(function, agent("echo", subscriptions=[]))
    r = await call_http(function, "POST", "/api/agents/triage/messages", {"type": "relay"})
    assert r.status_code == 202
    durable.calls.clear()
    await step(function)
    assert await pending(hosted, f"{TENANT}/echo") == 1
    assert durable.ops("raise_event:wake") == [instance_id(f"{TENANT}/echo")], "not its own instance"


async def test_failed_agent_is_restarted_within_budget(hosted: System, durable: FakeDurableExtension,
                                                       function: Fn) -> None:
    await register(function, agent())
    record = await hosted.kernel.get(TENANT, "triage")
    await hosted.kernel.fail_agent(record, "three failed steps")
    report = await step(function)
    assert report["state"] == "failed" and report["restart_at"] is not None
    result = await function("agent_restart")(key=KEY, client=BINDING)
    assert result == {"key": KEY, "restarted": True, "state": "active"}
    for _ in range(2):  # spend the rest of the budget (3)
        await hosted.kernel.fail_agent(await hosted.kernel.get(TENANT, "triage"), "again")
        assert (await function("agent_restart")(key=KEY, client=BINDING))["restarted"]
    await hosted.kernel.fail_agent(await hosted.kernel.get(TENANT, "triage"), "and again")
    assert (await step(function))["restart_at"] is None, "budget spent: stays failed for an operator"
    assert not (await function("agent_restart")(key=KEY, client=BINDING))["restarted"]
    assert (await hosted.kernel.get(TENANT, "triage")).state is AgentState.FAILED


async def test_a_worker_watches_its_event_loop_once_its_system_is_open(
        hosted: System, durable: FakeDurableExtension, function: Fn, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's loop runs every invocation of the process: /api/health says the watch is on (opening the
    system is not watched: it is booting), a lag is reported, and closing the system stops the watch."""
    import asyncio
    import time

    from aos.hosting.system import close_system, hosted_system

    await close_system()  # a fresh worker, whose first invocation is an HTTP call
    r = await call_http(function, "GET", "/api/health")  # opens the system, builds the API, then watches
    await asyncio.sleep(0.05)  # a beat: booting was not watched, so nothing is reported
    lag = json.loads(r.get_body())["runtime"]["loop_lag"]
    assert lag["watching"] is True and lag["threshold_ms"] == 100.0
    assert json.loads((await call_http(function, "GET", "/api/health")).get_body())["runtime"]["loop_lag"]["lags"] == 0

    time.sleep(0.3)  # noqa: ASYNC251 - what a CPU-bound invocation does to every other one of the worker
    await asyncio.sleep(0.05)  # the beat that was due runs, late, and reports
    lag = json.loads((await call_http(function, "GET", "/api/health")).get_body())["runtime"]["loop_lag"]
    assert lag["lags"] >= 1 and lag["last"]["ms"] >= 200
    assert any("test_a_worker_watches_its_event_loop" in frame for frame in lag["last"]["where"]), lag["last"]

    runtime = (await hosted_system()).runtime
    await close_system()
    assert runtime.stats()["loop_lag"]["watching"] is False

    monkeypatch.setenv("AOS_LOOP_LAG_WARN_MS", "0")
    assert (await hosted_system()).runtime.stats()["loop_lag"] is None
