"""API key management (admin only). A key's secret is shown once, at issue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from aos.api.deps import caller, system
from aos.api.guard import audit_detail, governed
from aos.api.views import IssuedKey, KeyIn, KeyView
from aos.kernel import Caller
from aos.model import Role

router = APIRouter(prefix="/api/keys", tags=["keys"])
Who = Annotated[Caller, Depends(caller)]


@router.post("", status_code=201, response_model=IssuedKey, summary="Issue an API key (secret shown once)")
async def issue(body: KeyIn, request: Request, who: Annotated[Caller, governed("keys.issue")]) -> IssuedKey:
    who.require(Role.ADMIN)
    sys = system(request)
    if body.agent_id:
        await sys.kernel.get(who.tenant, body.agent_id)
    record, secret = await sys.keys.issue(who.tenant, body.role, agent_id=body.agent_id, name=body.name)
    audit_detail(key_id=record.id, key_role=record.role.value, key_agent=record.agent_id)  # never the secret
    return IssuedKey(**KeyView.of(record).model_dump(), secret=secret)


@router.get("", response_model=list[KeyView], summary="List the tenant's keys (no secrets)")
async def list_keys(request: Request, who: Annotated[Caller, governed("keys.list")]) -> list[KeyView]:
    who.require(Role.ADMIN)
    return [KeyView.of(r) for r in await system(request).keys.list(who.tenant)]


@router.delete("/{key_id}", response_model=KeyView, summary="Revoke a key (idempotent)")
async def revoke(key_id: str, request: Request, who: Annotated[Caller, governed("keys.revoke")]) -> KeyView:
    who.require(Role.ADMIN)
    return KeyView.of(await system(request).keys.revoke(who.tenant, key_id))
