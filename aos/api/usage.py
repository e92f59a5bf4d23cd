"""Consumption against budgets: per agent (`/api/agents/{id}/usage`) and for the tenant (`/api/usage`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request

from aos.api.guard import governed
from aos.api.policies import _gov
from aos.errors import ValidationFailed
from aos.kernel import Caller
from aos.model import Role, validate_slug

router = APIRouter(prefix="/api", tags=["usage"])


@router.get("/agents/{agent_id}/usage", summary="An agent's usage this minute/hour/day and its budgets")
async def agent_usage(agent_id: str, request: Request,
                      who: Annotated[Caller, governed("agents.usage")]) -> dict[str, Any]:
    try:
        validate_slug(agent_id, "agent id")
    except ValueError as e:
        raise ValidationFailed(str(e)) from e
    who.require_agent_access(agent_id)
    gov = _gov(request)
    record = await gov.kernel.get(who.tenant, agent_id)
    budgets = (await gov.policy_set(who.tenant)).budgets_for(record.id, dict(record.spec.labels))
    return {"agent": agent_id, **await gov.budgets.report(who.tenant, agent_id, budgets, gov.clock.now())}


@router.get("/usage", summary="The tenant's usage this minute/hour/day and its tenant-wide budgets")
async def tenant_usage(request: Request, who: Annotated[Caller, governed("usage.get")]) -> dict[str, Any]:
    who.require(Role.ADMIN, Role.OPERATOR, Role.READER)
    gov = _gov(request)
    budgets = list((await gov.policy_set(who.tenant)).budgets)
    return {"tenant": who.tenant, **await gov.budgets.report(who.tenant, None, budgets, gov.clock.now())}
