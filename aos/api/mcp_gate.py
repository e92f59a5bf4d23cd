"""Policy and audit for external MCP requests to the agents' ContextMCPServers (`/mcp/agents/{id}`).

The HTTP app of `mcp_servers.context` classifies each request (`tools/call`, `resources/read`,
`resources/list`) and asks this gate. `check` asks the policy engine for each of the request's actions
(`context.read` or `context.write`, and `tool.call:NAME` for a tool) with the caller's role, as it does for a
system call: deny, or require_approval (nobody can wait for one over MCP), refuses with `PolicyDenied`, which
the MCP app answers as a JSON-RPC error carrying the problem (policy, rule, reason). `record` appends one audit
record per request, kind `mcp`: action `tool.call:NAME` (or `context.read` for resources), the agent, the
caller's key id, the outcome (ok / error / denied) and the method; never arguments, labels or values.
Cost: the policy decision is an in-memory lookup on the cached policy set; the record is one audit append.
"""

from __future__ import annotations

from typing import Any

from aos.kernel import Caller, Kernel
from mcp_servers.context import Gate, McpCall


class KernelGate(Gate):
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    async def check(self, grant: Caller, agent_id: str, call: McpCall) -> None:
        gov = self.kernel.governance
        if gov is None:
            return
        for action in call.actions:
            await gov.check_call(grant.tenant, grant.role.value, action, agent_id=agent_id)

    async def record(self, grant: Caller, agent_id: str, call: McpCall, outcome: str,
                     why: dict[str, Any] | None = None) -> None:
        gov = self.kernel.governance
        if gov is None:
            return
        details: dict[str, Any] = {"method": call.method, "context": call.action, "role": grant.role.value}
        if call.tool is not None:
            details["tool"] = call.tool
        if call.resource is not None:
            details["resource"] = call.resource
        for name, value in (why or {}).items():  # a refusal: status, and policy/rule/reason/denied action
            details["denied_action" if name == "action" else name] = value
        entry = gov.entry("mcp", call.actions[-1], actor=f"key:{grant.key_id}", agent_id=agent_id,
                          outcome=outcome, **details)
        await gov.auditor.append(grant.tenant, [entry])
