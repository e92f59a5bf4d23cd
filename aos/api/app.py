"""The one HTTP app of AOS: `aos up` serves it with uvicorn, Azure Functions through `func.AsgiMiddleware`.

Routes live under `/api/...` (the Functions convention) and each agent's ContextMCPServer under
`/mcp/agents/{agent_id}`. OpenAPI is at `/api/openapi.json`, interactive docs at `/api/docs`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request

from aos.api import agents, approvals, audit, events, keys, policies, problems, usage
from aos.api.guard import AuditMiddleware
from aos.errors import Forbidden
from aos.model import Role
from aos.runtime import System

log = logging.getLogger("aos.api")
VERSION = "0.1.0"


def create_app(sys: System) -> FastAPI:
    app = FastAPI(
        title="AOS system calls", version=VERSION,
        description="Register perpetual agents, publish events, watch them act. Errors are RFC 9457 problems.",
        openapi_url="/api/openapi.json", docs_url="/api/docs", redoc_url=None,
    )
    app.state.system = sys
    problems.install(app)
    app.include_router(agents.router)
    app.include_router(events.router)
    app.include_router(keys.router)
    app.include_router(policies.router)
    app.include_router(audit.router)
    app.include_router(approvals.router)
    app.include_router(usage.router)
    app.add_middleware(AuditMiddleware)

    @app.get("/api/health", tags=["health"], summary="Liveness and a short status (no auth)")
    async def health(request: Request) -> dict[str, Any]:
        return {"status": "ok", "version": VERSION, "backend": sys.config.backend,
                "runtime": sys.runtime.stats()}

    _mount_context(app, sys)
    return app


def _mount_context(app: FastAPI, sys: System) -> None:
    """Serve every agent's ContextMCPServer at /mcp/agents/{id}, with the same keys as the API; each tools/call,
    resources/read and resources/list is policy-checked and audited (`aos.api.mcp_gate`)."""
    if sys.kernel.context is None:
        return
    from aos.api.mcp_gate import KernelGate
    from mcp_servers.context import context_http_app

    async def authorize(authorization: str | None, agent_id: str) -> Any:
        who = await sys.keys.authenticate(authorization)
        if who.role is Role.AGENT and who.agent_id != agent_id:
            raise Forbidden(f"an agent key for '{who.agent_id}' cannot open the context of '{agent_id}'")
        if who.role is Role.READER:
            raise Forbidden("reader keys cannot open ContextMCPServers (they can write); use an operator key")
        await sys.kernel.get(who.tenant, agent_id)  # AgentNotFound (404) across tenants: no existence leak
        return who  # the grant `KernelGate` checks and records

    mcp_app = context_http_app(sys.stores.context, authorize, gate=KernelGate(sys.kernel))
    app.mount("/mcp/agents", mcp_app)
    app.state.mcp_app = mcp_app
