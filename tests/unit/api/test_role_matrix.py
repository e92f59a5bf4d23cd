"""Every system call × every caller × own/other tenant × own/other agent gets the expected status, and no answer
leaks another tenant's data.

`ROUTES` is the table of expectations. `test_every_openapi_route_is_in_the_table` reads `/api/openapi.json`, so
a route added anywhere fails the build until it is described here: who may call it (`roles`), what it acts on
(`scope`: `open`, `tenant`, or the kind of id in the path: `agent`, `key`, `policy`, `approval`) and what success
is. A route whose path names an id that need not exist yet (PUT a policy, simulate a draft) says `any_name`.

Each cell runs on a fresh in-memory system holding two tenants: `acme` (agents `triage`, `billing`) and `globex`
(agent `vault`), each with a policy, a pending approval, events and keys, all carrying a marker string. Besides the status, every cell checks that
- the body never holds the other tenant's marker, agent ids or key ids, and every `tenant` field in it is the
  caller's tenant;
- a 404 for another tenant's agent (or key) is byte-for-byte the 404 for an id that exists nowhere (with the id
  swapped), so a status or message cannot tell "exists elsewhere" from "does not exist".
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest

from aos.api import create_app
from aos.config import Config
from aos.governance_model import Approval, PolicyDocument, PolicyRecord
from aos.model import AgentSpec, Event, Role
from aos.runtime import System

from .conftest import ADMIN, agent_body

pytestmark = pytest.mark.anyio

ALL = frozenset(Role)
WRITERS = frozenset({Role.ADMIN, Role.OPERATOR})
SENDERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.AGENT})
ADMINS = frozenset({Role.ADMIN})
READERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.READER})
DRAFT = {"description": "matrix draft", "rules": []}
OWN, OTHER = "acme", "globex"
MARKER = {OWN: "ACME-CONFIDENTIAL-7731", OTHER: "GLOBEX-CONFIDENTIAL-4410"}
AGENTS = {OWN: ("triage", "billing"), OTHER: ("vault",)}
POLICY = {OWN: "acme-guard", OTHER: "globex-guard"}
APPROVAL = {OWN: "appr-acme-0001", OTHER: "appr-globex-0001"}
MISSING = {"agent": "nobody-here", "key": "0000deadbeef", "policy": "no-such-policy", "approval": "appr-none-0001"}
PARAM = {"agent": "{agent_id}", "key": "{key_id}", "policy": "{name}", "approval": "{approval_id}"}


@dataclass
class World:
    """The seeded system: who can call, and the ids each tenant owns."""

    sys: System
    secrets: dict[str, str | None] = field(default_factory=dict)
    key_ids: dict[str, list[str]] = field(default_factory=lambda: {OWN: [], OTHER: []})


Prepare = Callable[[World], Awaitable[None]]


async def _suspend_all(world: World) -> None:
    for tenant, ids in AGENTS.items():
        for agent_id in ids:
            await world.sys.kernel.suspend(tenant, agent_id)


@dataclass(frozen=True)
class Route:
    roles: frozenset[Role]
    scope: str  # open | tenant | agent | key
    ok: int
    body: Any = None
    #: an agent-role key may act on this route only for its own agent (otherwise 403)
    own_only: bool = True
    #: the path's id need not exist (it names something to create or a draft): success for any id
    any_name: bool = False
    prepare: Prepare | None = None
    headers: dict[str, str] = field(default_factory=dict)


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/health"): Route(ALL, "open", 200),
    ("POST", "/api/agents"): Route(WRITERS, "tenant", 201, body=agent_body("fresh-agent")),
    ("GET", "/api/agents"): Route(ALL, "tenant", 200),
    ("GET", "/api/agents/{agent_id}"): Route(ALL, "agent", 200),
    ("DELETE", "/api/agents/{agent_id}"): Route(WRITERS, "agent", 200),
    ("POST", "/api/agents/{agent_id}/suspend"): Route(WRITERS, "agent", 200),
    ("POST", "/api/agents/{agent_id}/resume"): Route(WRITERS, "agent", 200, prepare=_suspend_all),
    ("POST", "/api/agents/{agent_id}/messages"): Route(SENDERS, "agent", 202, body={"type": "ping"},
                                                        own_only=False),
    ("GET", "/api/agents/{agent_id}/steps"): Route(ALL, "agent", 200),
    ("GET", "/api/agents/{agent_id}/state"): Route(ALL, "agent", 200),
    ("POST", "/api/events"): Route(SENDERS, "tenant", 202, body={"type": "ping", "source": "matrix"}),
    ("GET", "/api/events"): Route(READERS, "tenant", 200),
    ("POST", "/api/keys"): Route(ADMINS, "tenant", 201, body={"role": "reader"}),
    ("GET", "/api/keys"): Route(ADMINS, "tenant", 200),
    ("DELETE", "/api/keys/{key_id}"): Route(ADMINS, "key", 200),
    # governance: policies, audit, approvals, usage
    ("GET", "/api/policies/schema"): Route(ALL, "tenant", 200),
    ("GET", "/api/policies"): Route(ADMINS, "tenant", 200),
    ("PUT", "/api/policies/{name}"): Route(ADMINS, "policy", 200, body=DRAFT, any_name=True),
    ("POST", "/api/policies/{name}:simulate"): Route(ADMINS, "policy", 200, body=DRAFT, any_name=True),
    ("GET", "/api/policies/{name}"): Route(ADMINS, "policy", 200),
    ("GET", "/api/policies/{name}/versions"): Route(ADMINS, "policy", 200),
    ("DELETE", "/api/policies/{name}"): Route(ADMINS, "policy", 200),
    ("GET", "/api/audit"): Route(WRITERS, "tenant", 200),
    ("POST", "/api/audit:verify"): Route(ADMINS, "tenant", 200),
    ("GET", "/api/approvals"): Route(READERS, "tenant", 200),
    ("GET", "/api/approvals/{approval_id}"): Route(READERS, "approval", 200),
    ("POST", "/api/approvals/{approval_id}:approve"): Route(WRITERS, "approval", 200),
    ("POST", "/api/approvals/{approval_id}:reject"): Route(WRITERS, "approval", 200),
    ("GET", "/api/agents/{agent_id}/usage"): Route(ALL, "agent", 200),
    ("GET", "/api/usage"): Route(READERS, "tenant", 200),
}

#: Served beside the OpenAPI routes: each agent's ContextMCPServer (its own `authorize` callback).
MOUNTED: dict[tuple[str, str], Route] = {
    ("POST", "/mcp/agents/{agent_id}"): Route(
        SENDERS, "agent", 200, body={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}),
}
TABLE = {**ROUTES, **MOUNTED}

# caller → (tenant, role); None: no credential / a revoked key
CALLERS: dict[str, tuple[str, Role | None]] = {
    "admin": (OWN, Role.ADMIN),
    "operator": (OWN, Role.OPERATOR),
    "agent:triage": (OWN, Role.AGENT),
    "reader": (OWN, Role.READER),
    "no-key": (OWN, None),
    "revoked-key": (OWN, None),
    "globex-admin": (OTHER, Role.ADMIN),
}
OWN_AGENT = "triage"
# target → the tenant it lives in (None: nowhere); names are relative to acme
AGENT_TARGETS = {"own-agent": OWN, "other-agent": OWN, "other-tenant-agent": OTHER, "missing-agent": None}


def targets(scope: str) -> dict[str, str | None]:
    if scope == "agent":
        return AGENT_TARGETS
    if scope in PARAM:
        return {f"own-tenant-{scope}": OWN, f"other-tenant-{scope}": OTHER, f"missing-{scope}": None}
    return {"-": OWN}


def expected(route: Route, caller: str, target: str) -> int:
    tenant, role = CALLERS[caller]
    if route.scope == "open":
        return route.ok
    if role is None:
        return 401
    if role not in route.roles:
        return 403
    if route.scope == "tenant":
        return route.ok
    if role is Role.AGENT and route.own_only and target != "own-agent":
        return 403
    return route.ok if route.any_name or targets(route.scope)[target] == tenant else 404


async def seed(sys: System) -> World:
    world = World(sys)
    for tenant, ids in AGENTS.items():
        for agent_id in ids:
            spec = AgentSpec.model_validate(agent_body(agent_id, purpose=f"{MARKER[tenant]} {agent_id}",
                                                       labels={"owner": tenant}))
            await sys.kernel.register(tenant, spec)
        await sys.kernel.publish(tenant, Event.model_validate(
            {"type": "audit.seed", "source": "matrix", "data": {"secret": MARKER[tenant]}}))
    await seed_governance(sys)
    keys = sys.keys
    issued = {
        "admin": ADMIN,
        "operator": (await keys.issue(OWN, Role.OPERATOR, name=MARKER[OWN]))[1],
        "agent:triage": (await keys.issue(OWN, Role.AGENT, agent_id=OWN_AGENT, name=MARKER[OWN]))[1],
        "reader": (await keys.issue(OWN, Role.READER, name=MARKER[OWN]))[1],
        "no-key": None,
        "globex-admin": (await keys.issue(OTHER, Role.ADMIN, name=MARKER[OTHER]))[1],
    }
    revoked, issued["revoked-key"] = await keys.issue(OWN, Role.OPERATOR, name=MARKER[OWN])
    await keys.revoke(OWN, revoked.id)
    world.secrets = issued
    for tenant in (OWN, OTHER):
        world.key_ids[tenant] = [k.id for k in await keys.list(tenant)]
    return world


async def seed_governance(sys: System) -> None:
    gov = sys.kernel.governance
    assert gov is not None, "the memory backend ships governance stores"
    now = sys.stores.clock.now()
    for tenant in (OWN, OTHER):
        doc = PolicyDocument.model_validate({"description": MARKER[tenant]})
        await gov.put_policy(PolicyRecord(tenant=tenant, name=POLICY[tenant], version=0, document=doc,
                                          updated_at=now, updated_by="matrix"), None)
        await gov.stores.approvals.park(Approval(
            id=APPROVAL[tenant], tenant=tenant, agent_id=AGENTS[tenant][0], seq=1, index=0, action="context.write",
            effect={"kind": "note", "text": MARKER[tenant]}, policy=POLICY[tenant], rule="hold",
            reason=MARKER[tenant], requested_at=now, expires_at=now + timedelta(hours=1)))


def concrete(path: str, scope: str, target: str, world: World) -> tuple[str, str | None]:
    """The request path for a target, and the id that stands for it (None for tenant-wide routes)."""
    if scope not in PARAM:
        return path, None
    tenant = targets(scope)[target]
    if tenant is None:
        ident = MISSING[scope]
    elif scope == "agent":
        ident = {"own-agent": OWN_AGENT, "other-agent": "billing", "other-tenant-agent": AGENTS[OTHER][0]}[target]
    elif scope == "key":
        ident = next(k for k in world.key_ids[tenant] if k != "bootstrap-admin")
    else:
        ident = (POLICY if scope == "policy" else APPROVAL)[tenant]
    return path.replace(PARAM[scope], ident), ident


def foreign_strings(world: World, caller_tenant: str) -> set[str]:
    other = OTHER if caller_tenant == OWN else OWN
    return {MARKER[other], *AGENTS[other], *world.key_ids[other], POLICY[other], APPROVAL[other]}


def tenant_fields(value: Any) -> list[Any]:
    if isinstance(value, dict):
        found = [value["tenant"]] if isinstance(value.get("tenant"), str) else []  # not `scope.tenant: true`
        return found + [t for v in value.values() for t in tenant_fields(v)]
    if isinstance(value, list):
        return [t for v in value for t in tenant_fields(v)]
    return []


def normalized(response: httpx.Response, ident: str) -> str:
    body = response.json()
    body.pop("instance", None)
    return json.dumps(body, sort_keys=True).replace(ident, "<id>")


@pytest.fixture
async def fresh() -> AsyncIterator[Callable[[], Awaitable[tuple[World, httpx.AsyncClient]]]]:
    opened: list[Any] = []

    async def make() -> tuple[World, httpx.AsyncClient]:
        ctx = System.open(Config(backend="memory", admin_key=ADMIN, default_tenant=OWN), run=False)
        sys = await ctx.__aenter__()
        opened.append(ctx)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sys)), base_url="http://aos")
        opened.append(client)
        return await seed(sys), client

    yield make
    for thing in reversed(opened):
        await thing.__aexit__(None, None, None)


def cells() -> list[Any]:
    out = []
    for (method, path), route in TABLE.items():
        for caller in CALLERS:
            for target in targets(route.scope):
                out.append(pytest.param(method, path, caller, target, id=f"{method} {path} | {caller} | {target}"))
    return out


async def call(client: httpx.AsyncClient, method: str, path: str, route: Route, secret: str | None
               ) -> httpx.Response:
    headers = {**route.headers, **({"Authorization": f"Bearer {secret}"} if secret else {})}
    body = None if route.body is None else json.dumps(route.body)
    if body is not None:
        headers["Content-Type"] = "application/json"
    return await client.request(method, path, content=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "caller", "target"), cells())
async def test_cell(fresh: Callable[[], Awaitable[tuple[World, httpx.AsyncClient]]], method: str, path: str,
                    caller: str, target: str) -> None:
    route = TABLE[(method, path)]
    world, client = await fresh()
    if route.prepare is not None:
        await route.prepare(world)
    caller_tenant = CALLERS[caller][0]
    url, ident = concrete(path, route.scope, target, world)
    r = await call(client, method, url, route, world.secrets[caller])
    want = expected(route, caller, target)
    assert r.status_code == want, f"{method} {url} as {caller}: expected {want}, got {r.status_code}: {r.text}"

    text = r.text.replace(ident, "<id>") if ident else r.text
    leaked = sorted(s for s in foreign_strings(world, caller_tenant) if s in text)
    assert not leaked, f"{method} {url} as {caller} leaks the other tenant's {leaked}: {r.text}"
    if r.status_code < 300 and r.content:
        assert set(tenant_fields(r.json())) <= {caller_tenant}, r.text

    if want == 404 and ident is not None:
        missing = MISSING[route.scope]
        ghost_world, ghost_client = await fresh()
        if route.prepare is not None:
            await route.prepare(ghost_world)
        ghost = await call(ghost_client, method, path.replace(PARAM[route.scope], missing), route,
                           ghost_world.secrets[caller])
        assert ghost.status_code == 404
        assert normalized(r, ident) == normalized(ghost, missing), "a 404 must not tell 'elsewhere' from 'nowhere'"


async def test_every_openapi_route_is_in_the_table(
        fresh: Callable[[], Awaitable[tuple[World, httpx.AsyncClient]]]) -> None:
    _, client = await fresh()
    spec = (await client.get("/api/openapi.json")).json()
    served = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops
              if method in ("get", "post", "put", "patch", "delete")}
    missing = sorted(served - ROUTES.keys())
    assert not missing, (
        "system calls missing from the role matrix; add each to ROUTES in tests/unit/api/test_role_matrix.py with "
        f"who may call it, its scope and its success status: {missing}")
    stale = sorted(ROUTES.keys() - served)
    assert not stale, f"ROUTES lists calls the API no longer serves (remove them): {stale}"


def test_the_matrix_has_every_dimension() -> None:
    all_cells = cells()
    callers = {c.values[2] for c in all_cells}
    assert callers == set(CALLERS) and {r for _, r in CALLERS.values() if r} == set(Role)
    agent_targets = {c.values[3] for c in all_cells if TABLE[(c.values[0], c.values[1])].scope == "agent"}
    assert agent_targets == set(AGENT_TARGETS)
    outcomes = {expected(TABLE[(c.values[0], c.values[1])], c.values[2], c.values[3]) for c in all_cells}
    assert {401, 403, 404} <= outcomes and any(200 <= o < 300 for o in outcomes)
