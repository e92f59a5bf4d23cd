"""Policy documents: publish the schema, put/get/delete versioned policies, and simulate a draft (admin only).

A body is JSON, or YAML with `Content-Type: application/yaml`. `:simulate` is declared before `{name}` so the
colon form reaches it (`POST /api/policies/{name}` has no route of its own).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from aos.api.deps import MAX_POSITION, system
from aos.api.guard import governed
from aos.errors import MalformedRequest, NotConfigured, ValidationFailed
from aos.governance_model import PolicyDocument, PolicyRecord, validate_policy_name
from aos.kernel import Caller
from aos.kernel.policy.simulate import simulate
from aos.model import Role

router = APIRouter(prefix="/api/policies", tags=["policies"])


def _gov(request: Request) -> Any:
    gov = system(request).kernel.governance
    if gov is None:
        raise NotConfigured("these stores have no governance (Stores.governance is None): every AOS backend "
                            "provides it; a custom Stores bundle must set it")
    return gov


def _name(name: str) -> str:
    try:
        return validate_policy_name(name)
    except ValueError as e:
        raise ValidationFailed(str(e)) from e


async def _document(request: Request) -> PolicyDocument:
    raw = await request.body()
    try:
        data = yaml.safe_load(raw) if "yaml" in request.headers.get("content-type", "") else json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise MalformedRequest(f"the policy document is not valid JSON/YAML: {e}") from e
    try:
        return PolicyDocument.model_validate(data)
    except ValidationError as e:
        errors: list[dict[str, object]] = [
            {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in e.errors()]
        detail = "; ".join(f"{err['loc'] or 'document'}: {err['msg']}" for err in errors[:5])
        raise ValidationFailed(f"not a valid policy document: {detail}", errors=errors) from e


def _view(r: PolicyRecord) -> dict[str, Any]:
    return r.model_dump(mode="json")


_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": PolicyDocument.model_json_schema()},
    "application/yaml": {"schema": PolicyDocument.model_json_schema()}}}}


@router.get("/schema", summary="JSON schema of a policy document")
async def schema(who: Annotated[Caller, governed("policies.get")]) -> dict[str, Any]:
    return PolicyDocument.model_json_schema()


@router.get("", summary="The tenant's live policies (latest version of each)")
async def list_policies(request: Request, who: Annotated[Caller, governed("policies.list")]) -> list[Any]:
    who.require(Role.ADMIN)
    return [_view(r) for r in await _gov(request).stores.policies.list(who.tenant)]


@router.post("/{name}:simulate", summary="Dry run: what a draft would have denied or held in the last days",
             openapi_extra=_BODY)
async def simulate_policy(name: str, request: Request, who: Annotated[Caller, governed("policies.simulate")],
                          days: Annotated[float, Query(gt=0, le=90)] = 7.0,
                          limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> dict[str, Any]:
    who.require(Role.ADMIN)
    draft = await _document(request)
    return await simulate(_gov(request), who.tenant, _name(name), draft, days=days, limit=limit)


@router.put("/{name}", summary="Create or replace a policy (a new version)", openapi_extra=_BODY)
async def put_policy(name: str, request: Request, who: Annotated[Caller, governed("policies.put")],
                     if_version: Annotated[int | None, Query(ge=0, le=MAX_POSITION,
                                                             description="expected latest version")] = None,
                     ) -> dict[str, Any]:
    who.require(Role.ADMIN)
    gov = _gov(request)
    record = PolicyRecord(tenant=who.tenant, name=_name(name), version=0, document=await _document(request),
                          updated_at=gov.clock.now(), updated_by=who.key_id)
    return _view(await gov.put_policy(record, if_version))


@router.get("/{name}", summary="Read a policy (latest, or ?version=N)")
async def get_policy(name: str, request: Request, who: Annotated[Caller, governed("policies.get")],
                     version: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None) -> dict[str, Any]:
    who.require(Role.ADMIN)
    return _view(await _gov(request).stores.policies.get(who.tenant, _name(name), version))


@router.get("/{name}/versions", summary="Every version of a policy, oldest first")
async def versions(name: str, request: Request, who: Annotated[Caller, governed("policies.get")]) -> list[Any]:
    who.require(Role.ADMIN)
    found = await _gov(request).stores.policies.versions(who.tenant, _name(name))
    if not found:
        await _gov(request).stores.policies.get(who.tenant, name)  # raises NotFound
    return [_view(r) for r in found]


@router.delete("/{name}", summary="Delete a policy (a tombstone version; history is kept)")
async def delete_policy(name: str, request: Request,
                        who: Annotated[Caller, governed("policies.delete")]) -> dict[str, Any]:
    who.require(Role.ADMIN)
    gov = _gov(request)
    if not await gov.delete_policy(who.tenant, _name(name), who.key_id):
        await gov.stores.policies.get(who.tenant, name)  # raises NotFound
    return {"name": name, "deleted": True}
