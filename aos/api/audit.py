"""The tenant's audit log (paged, filtered) and its verification (admin and operator read; admin verifies)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from aos.api.deps import MAX_POSITION
from aos.api.guard import governed
from aos.api.policies import _gov
from aos.kernel import Caller
from aos.model import Role

router = APIRouter(prefix="/api", tags=["audit"])


@router.get("/audit", summary="Audit records, newest first (paged by seq)")
async def list_audit(
    request: Request, who: Annotated[Caller, governed("audit.list")],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    action: Annotated[str | None, Query(max_length=128, description="action prefix")] = None,
    agent: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    who.require(Role.ADMIN, Role.OPERATOR)
    items = await _gov(request).stores.audit.page(who.tenant, before=before, limit=limit, kind=kind,
                                                   action_prefix=action, agent_id=agent)
    more = len(items) == limit and items[-1].seq > 1
    return {"items": [r.model_dump(mode="json") for r in items], "next_before": items[-1].seq if more else None}


@router.post("/audit:verify", summary="Recompute the tenant's hash chain; name the first broken record")
async def verify(request: Request, who: Annotated[Caller, governed("audit.verify")]) -> dict[str, Any]:
    who.require(Role.ADMIN)
    result = await _gov(request).auditor.verify(who.tenant)
    broken = result.first_broken
    return {"tenant": result.tenant, "ok": result.ok, "records": result.records, "head_seq": result.head_seq,
            "first_broken": None if broken is None else {"seq": broken.seq, "reason": broken.reason}}
