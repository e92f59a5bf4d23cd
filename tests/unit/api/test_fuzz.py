"""Valid requests with one or two fields swapped for generated junk: every system call answers below 500, a
4xx is a problem document, and an agent the API accepted does not then fail its steps because of its own spec.

Derandomized (the same examples every run) so that CI is repeatable; `test_no_500.py` covers fixed junk bodies,
paths and queries. This fuzzing found registered scripted rules whose `emit`/`send` could never make a valid
effect (they failed each matching step; now refused at registration).
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aos.api import create_app
from aos.config import Config
from aos.runtime import System

ADMIN = "fuzz-admin-key-0123456789"
PROBLEM = "application/problem+json"
RULE = {"match": {"type": "ping", "data": {"k": "v"}},
        "then": [{"emit": {"type": "pong", "data": "{{ event.data }}"}}, {"send": {"to": "triage", "type": "t"}},
                 {"state": {"set": {"a": 1}, "incr": {"n": 1}}}, {"note": "seen {{ event.data.k }}"}]}
VALID: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/agents"): {
        "id": "agent-x", "purpose": "p", "brain": {"kind": "scripted", "settings": {"rules": [RULE]}},
        "subscriptions": [{"type": "ping", "source": "s"}], "schedule": ["0 * * * *"],
        "limits": {"max_events_per_step": 5, "step_timeout_s": 10}, "labels": {"team": "a"}},
    ("POST", "/api/events"): {"specversion": "1.0", "id": "e-x", "type": "ping", "source": "s", "subject": "x",
                              "data": {"k": "v", "n": 1}, "aostarget": "triage"},
    ("POST", "/api/agents/triage/messages"): {"type": "ping", "data": {"k": "v", "n": 1}, "id": "m-x"},
    ("POST", "/api/keys"): {"role": "agent", "agent_id": "triage", "name": "k"},
    # a policy every later publish is checked against: a value it cannot compare was a 500 on each of them
    ("PUT", "/api/policies/p1"): {"rules": [{"id": "big", "actions": ["events.publish", "message.send"],
                                             "effect": "deny", "when": {"payload": {"n": {"gt": 100}}}}]},
}
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["", "x", "triage", "@keyvault:x", "2025-01-01T00:00:00Z", "*/0 * * * *", "scripted",
                     "python", "admin", "-1", "{{ event.data }}", "{{", "{{ x.y }}", "os:system", "a" * 300,
                     "0 0 31 2 *"]),
)
JUNK = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                    max_leaves=10)


def _places(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _places(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _places(v, (*at, i))
    return out


def _put(value: Any, at: tuple[Any, ...], junk: Any) -> Any:
    if not at:
        return junk
    out = copy.deepcopy(value)
    here = out
    for step in at[:-1]:
        here = here[step]
    here[at[-1]] = junk
    return out


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, Any]:
    (method, path), body = draw(st.sampled_from(sorted(VALID.items())))
    for _ in range(draw(st.integers(1, 2))):
        body = _put(body, draw(st.sampled_from(_places(body))), draw(JUNK))
    return method, path, body


def test_junk_in_valid_requests_never_gets_a_500_and_accepted_agents_run() -> None:
    loop = asyncio.new_event_loop()
    opened = System.open(Config(backend="memory", admin_key=ADMIN, default_tenant="acme"))
    system = loop.run_until_complete(opened.__aenter__())
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(system)), base_url="http://aos",
                            headers={"Authorization": f"Bearer {ADMIN}"})
    failures: list[str] = []
    system.kernel.note_step_result = _recording(system.kernel.note_step_result, failures)  # type: ignore[method-assign]

    async def call(method: str, path: str, body: Any) -> httpx.Response:
        return await api.request(method, path, content=json.dumps(body), headers={"content-type": "application/json"})

    seen = [0]

    @settings(max_examples=250, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(requests())
    def check(request: tuple[str, str, Any]) -> None:
        method, path, body = request
        seen[0] += 1
        if isinstance(body, dict) and body.get("id") in ("agent-x", "e-x", "m-x"):
            body = {**body, "id": f"{body['id']}-{seen[0]}"}  # fresh ids: a duplicate would say nothing new
        r = loop.run_until_complete(call(method, path, body))
        assert r.status_code < 500, (method, path, body, r.text)
        if r.status_code >= 400:
            assert r.headers["content-type"] == PROBLEM, (method, path, r.text)
        if path == "/api/agents" and r.status_code == 201:  # it registered: a matching event must not fail it
            event = {"id": f"probe-{seen[0]}", "type": "ping", "source": "s", "data": {"k": "v"},
                     "aostarget": r.json()["id"]}
            loop.run_until_complete(call("POST", "/api/events", event))

    try:
        loop.run_until_complete(call("POST", "/api/agents", {**VALID[("POST", "/api/agents")], "id": "triage"}))
        check()
        loop.run_until_complete(asyncio.sleep(0.5))  # the runtime works off what was accepted
        assert failures == [], failures[:5]
        assert seen[0] == 250
    finally:
        loop.run_until_complete(api.aclose())
        loop.run_until_complete(opened.__aexit__(None, None, None))
        loop.close()


def _recording(note: Any, failures: list[str]) -> Any:
    async def noted(record: Any, error: str | None) -> None:
        # a junk `step_timeout_s` of microseconds is the caller's own limit at work, and depends on the machine
        if error is not None and "limits.step_timeout_s" not in error:
            failures.append(f"{record.id}: {error}")
        await note(record, error)

    return noted
