"""What the HTTP app asks before and after serving an MCP request that touches an agent's context.

The HTTP app classifies each POSTed JSON-RPC request (`classify`); the governed ones are `tools/call`,
`resources/read` and `resources/list`. Before serving one it asks the injected `Gate.check` (which may refuse
with an `AosError`); after serving it (or refusing it) it hands `Gate.record` the outcome, before the response
leaves: a call whose record cannot be written is answered with a problem, never served unrecorded.

Actions: `context.read` or `context.write` by what the request does (tools in `WRITE_TOOLS` change the
context; every other tool, and resources, read it), and for a tool also `tool.call:NAME`. What a record may
carry: the method, the tool name, the kind of resource (block / journal), the outcome; never arguments, a
resource's label or any value. The policy engine and the audit log live in the kernel; this package only
defines the seam (`aos.api.mcp_gate` implements it).

A refusal is answered as a JSON-RPC error (HTTP 200, code `DENIED`, the problem document in `error.data`), so
an MCP client raises it as an error of that one request and its session goes on.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aos.errors import AosError

#: Tools that change the context (everything else only reads it).
WRITE_TOOLS = frozenset({"block_write", "block_delete", "journal_append", "compact"})
#: JSON-RPC error code of a request refused by the gate (implementation-defined server error range).
DENIED = -32003


@dataclass(frozen=True)
class McpCall:
    """One governed MCP request as the gate sees it: no arguments, no values."""

    method: str
    action: str
    tool: str | None = None
    resource: str | None = None
    rpc_id: Any = None

    @property
    def actions(self) -> tuple[str, ...]:
        """Every action the request must be allowed: its context action, and a tool's own `tool.call:NAME`."""
        return (self.action, f"tool.call:{self.tool}") if self.tool is not None else (self.action,)


class Gate(abc.ABC):
    """Policy and audit of MCP requests. `grant` is whatever the app's `authorize` returned for the caller."""

    @abc.abstractmethod
    async def check(self, grant: Any, agent_id: str, call: McpCall) -> None:
        """Return to allow; raise an `AosError` (e.g. `PolicyDenied`, 403) to refuse."""

    @abc.abstractmethod
    async def record(self, grant: Any, agent_id: str, call: McpCall, outcome: str,
                     why: dict[str, Any] | None = None) -> None:
        """Durably record the request's outcome (`ok`, `error`, `denied`; `why`: the refusal's attributes)."""


def classify(body: bytes) -> McpCall | None:
    """The governed request in `body`, or None (not JSON, not a single request, or a method nobody governs:
    initialize, tools/list, notifications... and anything the MCP transport itself will refuse)."""
    try:
        msg = json.loads(body)
    except ValueError:
        return None
    if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
        return None
    method, params = msg["method"], given if isinstance(given := msg.get("params"), dict) else {}
    if method == "tools/call":
        name = params.get("name")
        tool = name if isinstance(name, str) else ""
        return McpCall(method, "context.write" if tool in WRITE_TOOLS else "context.read", tool=tool,
                       rpc_id=msg.get("id"))
    if method in ("resources/read", "resources/list"):
        uri = params.get("uri") if method == "resources/read" else None
        return McpCall(method, "context.read", resource=_resource_kind(uri), rpc_id=msg.get("id"))
    return None


def _resource_kind(uri: Any) -> str | None:
    if not isinstance(uri, str):
        return None
    if "/blocks/" in uri:
        return "block"
    return "journal" if uri.endswith("/journal") else "other"


def outcome(messages: Sequence[Mapping[str, Any]]) -> str:
    """`ok` or `error`, from the buffered response of one request (JSON-RPC error or a tool's isError)."""
    status = next((int(m["status"]) for m in messages if m["type"] == "http.response.start"), 500)
    if status >= 400:
        return "error"
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    try:
        reply = json.loads(body) if body else {}
    except ValueError:
        return "error"
    if not isinstance(reply, dict) or "error" in reply:
        return "error"
    result = reply.get("result")
    return "error" if isinstance(result, dict) and result.get("isError") else "ok"


def refusal(call: McpCall, e: AosError) -> bytes:
    """The JSON-RPC error answering a refused request (the problem document rides in `data`)."""
    problem = {"type": f"https://aos.dev/problems/{e.kind}", "title": e.title, "status": e.status,
               "detail": e.detail, **{k: v for k, v in e.attrs.items() if isinstance(v, (str, int))}}
    return json.dumps({"jsonrpc": "2.0", "id": call.rpc_id,
                       "error": {"code": DENIED, "message": e.detail, "data": problem}}).encode()
