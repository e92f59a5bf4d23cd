"""Pending approvals (parked effects) and their decisions (operator or admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from aos.api.guard import governed
from aos.api.policies import _gov
from aos.governance_model import ApprovalStatus
from aos.kernel import Caller
from aos.model import Role

router = APIRouter(prefix="/api/approvals", tags=["approvals"])
READERS = (Role.ADMIN, Role.OPERATOR, Role.READER)


class DecisionIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


@router.get("", summary="Approvals, newest first (default: pending)")
async def list_approvals(request: Request, who: Annotated[Caller, governed("approvals.list")],
                         status: ApprovalStatus | None = ApprovalStatus.PENDING,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[Any]:
    who.require(*READERS)
    items = await _gov(request).stores.approvals.list(who.tenant, status=status.value if status else None,
                                                       limit=limit)
    return [a.model_dump(mode="json") for a in items]


@router.post("/{approval_id}:approve", summary="Release the parked effect (applied once)")
async def approve(approval_id: str, request: Request, who: Annotated[Caller, governed("approvals.decide")],
                  body: DecisionIn | None = None) -> Any:
    who.require(Role.ADMIN, Role.OPERATOR)
    gov = _gov(request)
    done = await gov.approvals.decide(who.tenant, approval_id, True, f"key:{who.key_id}", body.note if body else None)
    return done.model_dump(mode="json")


@router.post("/{approval_id}:reject", summary="Drop the parked effect")
async def reject(approval_id: str, request: Request, who: Annotated[Caller, governed("approvals.decide")],
                 body: DecisionIn | None = None) -> Any:
    who.require(Role.ADMIN, Role.OPERATOR)
    gov = _gov(request)
    done = await gov.approvals.decide(who.tenant, approval_id, False, f"key:{who.key_id}",
                                      body.note if body else None)
    return done.model_dump(mode="json")


@router.get("/{approval_id}", summary="One approval")
async def get_approval(approval_id: str, request: Request,
                       who: Annotated[Caller, governed("approvals.list")]) -> Any:
    who.require(*READERS)
    return (await _gov(request).stores.approvals.get(who.tenant, approval_id)).model_dump(mode="json")
