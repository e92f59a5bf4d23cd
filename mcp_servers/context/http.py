"""One ASGI app serving every agent's ContextMCPServer over streamable HTTP, at `/{agent_id}`.

The API host mounts it at `/mcp/agents`. Stateless with JSON responses (DESIGN.md): each request gets a fresh
stateless transport on the agent's server, so any instance answers any request and nothing waits on an SSE
stream. Auth is injected: `authorize(authorization_header, agent_id)` returns the caller's tenant or raises
`Unauthorized`/`Forbidden`, answered as RFC 9457 problem+json. Servers are cached per (tenant, agent) in a
bounded LRU: they hold no data (the store does), only the tool binding, so a cached one is never stale.

Governance is injected too: with a `gate` (`mcp_servers.context.gate`), each `tools/call`, `resources/read`
and `resources/list` passes `gate.check` before it is served and leaves one `gate.record` before its response
leaves (the SDK's JSON response is buffered for that: it is one body anyway). `authorize` may then return any
grant with a `tenant` attribute (the gate receives it) instead of the tenant string.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Message, Receive, Scope, Send

from aos.errors import AosError, NotFound
from aos.model import SLUG
from aos.ports import ContextStore
from mcp_servers.context.compaction import Budget, Summarizer
from mcp_servers.context.gate import Gate, McpCall, classify, outcome, refusal
from mcp_servers.context.server import ContextServer, build_server

log = logging.getLogger(__name__)

#: `authorize(raw Authorization header or None, agent_id) -> tenant` (or a grant with `.tenant`); raises
#: Unauthorized / Forbidden.
Authorize = Callable[[str | None, str], Awaitable[Any]]
_NO_REBINDING_CHECK = TransportSecuritySettings(enable_dns_rebinding_protection=False)


class ContextHttpApp:
    def __init__(
        self,
        store: ContextStore,
        authorize: Authorize,
        *,
        budget: Budget | None = None,
        summarizer_for: Callable[[str, str], Summarizer | None] | None = None,
        cache_size: int = 1024,
        noop_tool: bool = False,
        gate: Gate | None = None,
    ) -> None:
        self.store = store
        self.authorize = authorize
        self.gate = gate
        self.budget = budget
        self.summarizer_for = summarizer_for
        self.cache_size = cache_size
        self.noop_tool = noop_tool
        self._servers: OrderedDict[tuple[str, str], ContextServer] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            agent_id = _agent_from_path(scope)
            grant = await self.authorize(_header(scope, b"authorization"), agent_id)
        except AosError as e:
            await _problem(send, e)
            return
        tenant = grant if isinstance(grant, str) else grant.tenant
        if self.gate is not None and scope.get("method") == "POST":
            body = await _body(receive)
            receive = _replay(body, receive)
            call = classify(body)
            if call is not None:
                await self._governed(scope, receive, send, self.gate, grant, tenant, agent_id, call)
                return
        await self._serve(scope, receive, send, tenant, agent_id)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, tenant: str, agent_id: str) -> None:
        manager = StreamableHTTPSessionManager(
            self.server(tenant, agent_id)._lowlevel_server,
            json_response=True,
            stateless=True,
            security_settings=_NO_REBINDING_CHECK,
        )
        async with manager.run():
            await manager.handle_request(scope, receive, send)

    async def _governed(self, scope: Scope, receive: Receive, send: Send, gate: Gate, grant: Any, tenant: str,
                        agent_id: str, call: McpCall) -> None:
        """Check, serve into a buffer, record the outcome, then answer (a failed record answers a problem)."""
        try:
            try:
                await gate.check(grant, agent_id, call)
            except AosError as e:  # a refusal (403) is an MCP error; anything else (503...) a problem
                await gate.record(grant, agent_id, call, "denied" if e.status == 403 else "error",
                                  {"status": e.status, **e.attrs})
                if e.status != 403:
                    raise
                await _json(send, refusal(call, e))
                return
            buffered: list[Message] = []

            async def keep(message: Message) -> None:
                buffered.append(message)

            await self._serve(scope, receive, keep, tenant, agent_id)
            await gate.record(grant, agent_id, call, outcome(buffered))
        except AosError as e:  # e.g. the record could not be written: nothing is answered as if served
            await _problem(send, e)
            return
        for message in buffered:
            await send(message)

    def server(self, tenant: str, agent_id: str) -> ContextServer:
        """The agent's server, from the LRU cache or built (about a millisecond)."""
        key = (tenant, agent_id)
        server = self._servers.get(key)
        if server is None:
            summarizer = self.summarizer_for(tenant, agent_id) if self.summarizer_for else None
            server = build_server(
                self.store,
                tenant,
                agent_id,
                budget=self.budget,
                summarizer=summarizer,
                noop_tool=self.noop_tool,
            )
            self._servers[key] = server
            if len(self._servers) > self.cache_size:
                self._servers.popitem(last=False)
        else:
            self._servers.move_to_end(key)
        return server


def context_http_app(store: ContextStore, authorize: Authorize, **options: object) -> ContextHttpApp:
    """The ASGI app to mount at `/mcp/agents` (options: see `ContextHttpApp`)."""
    return ContextHttpApp(store, authorize, **options)  # type: ignore[arg-type]


def _agent_from_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    agent_id = path.strip("/")
    if not SLUG.match(agent_id):
        raise NotFound(f"no MCP server at '{path}': the URL is /mcp/agents/{{agent_id}}")
    return agent_id


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already-read body to the transport, then defers to the client's (disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _json(send: Send, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


async def _problem(send: Send, e: AosError) -> None:
    body = json.dumps(
        {"type": f"https://aos.dev/problems/{e.kind}", "title": e.title, "status": e.status, "detail": e.detail}
    ).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    if e.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="aos"'))
    await send({"type": "http.response.start", "status": e.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Standalone (uvicorn) lifespan: nothing to start; per-request managers own their task groups."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
