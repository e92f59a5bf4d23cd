"""System calls on agents: register, read, list, lifecycle, messages, steps, state."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from aos.api.deps import MAX_POSITION, caller, idempotent, system
from aos.api.guard import check_call, governed
from aos.api.views import AgentPage, AgentView, MessageIn, PublishResult, StateView, StepPage
from aos.errors import ValidationFailed
from aos.kernel import Caller
from aos.model import SENDER_EXT, TARGET_EXT, AgentSpec, AgentState, Event, Role, validate_slug

router = APIRouter(prefix="/api/agents", tags=["agents"])
Who = Annotated[Caller, Depends(caller)]
WRITERS = (Role.ADMIN, Role.OPERATOR)


def _agent_id(agent_id: str) -> str:
    try:
        return validate_slug(agent_id, "agent id")
    except ValueError as e:
        raise ValidationFailed(str(e)) from e


async def _view(request: Request, tenant: str, agent_id: str) -> AgentView:
    sys = system(request)
    record = await sys.kernel.get(tenant, agent_id)
    pending = await sys.stores.mailbox.pending(record.key)
    return AgentView.of(record, record.key in sys.kernel.running, pending)


@router.post("", status_code=201, response_model=AgentView, summary="Register a perpetual agent")
async def register(spec: AgentSpec, request: Request, who: Annotated[Caller, governed("agents.register")]) -> Any:
    who.require(*WRITERS)

    async def work() -> tuple[int, Any]:
        record = await system(request).kernel.register(who.tenant, spec)
        return 201, AgentView.of(record, False, 0).model_dump(mode="json")

    return await idempotent(request, who, "agents.register", work)


@router.get("", response_model=AgentPage, summary="List agents (paged by id)")
async def list_agents(
    request: Request, who: Annotated[Caller, governed("agents.list")],
    state: AgentState | None = None,
    label: Annotated[list[str], Query(description="key=value; all must match")] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> AgentPage:
    labels: dict[str, str] = {}
    for item in label:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise ValidationFailed(f"label filter '{item}' must look like key=value")
        labels[k] = v
    sys = system(request)
    if who.role is Role.AGENT:
        record = await sys.kernel.get(who.tenant, who.agent_id or "")
        return AgentPage(items=[AgentView.of(record, record.key in sys.kernel.running)], next_cursor=None)
    records, next_cursor = await sys.kernel.list(who.tenant, state=state, labels=labels or None, limit=limit,
                                                 cursor=cursor)
    return AgentPage(items=[AgentView.of(r, r.key in sys.kernel.running) for r in records],
                     next_cursor=next_cursor)


@router.get("/{agent_id}", response_model=AgentView, summary="Read one agent")
async def get_agent(agent_id: str, request: Request, who: Annotated[Caller, governed("agents.get")]) -> AgentView:
    who.require_agent_access(_agent_id(agent_id))
    return await _view(request, who.tenant, agent_id)


@router.post("/{agent_id}/suspend", response_model=AgentView, summary="Suspend: mail is kept, not processed")
async def suspend(agent_id: str, request: Request, who: Annotated[Caller, governed("agents.suspend")]) -> AgentView:
    who.require(*WRITERS)
    await system(request).kernel.suspend(who.tenant, _agent_id(agent_id))
    return await _view(request, who.tenant, agent_id)


@router.post("/{agent_id}/resume", response_model=AgentView, summary="Resume a suspended or failed agent")
async def resume(agent_id: str, request: Request, who: Annotated[Caller, governed("agents.resume")]) -> AgentView:
    who.require(*WRITERS)
    await system(request).kernel.resume(who.tenant, _agent_id(agent_id))
    return await _view(request, who.tenant, agent_id)


@router.delete("/{agent_id}", summary="Retire an agent; ?purge=true also removes its mail, state and context")
async def retire(agent_id: str, request: Request, who: Annotated[Caller, governed("agents.retire")],
                 purge: bool = False) -> dict[str, Any]:
    who.require(*WRITERS)
    return await system(request).kernel.retire(who.tenant, _agent_id(agent_id), purge=purge)


@router.post("/{agent_id}/messages", status_code=202, response_model=PublishResult,
             summary="Send a message to one agent")
async def send_message(agent_id: str, body: MessageIn, request: Request,
                       who: Annotated[Caller, governed("agents.message")]) -> Any:
    who.require(Role.ADMIN, Role.OPERATOR, Role.AGENT)
    target = _agent_id(agent_id)
    fields: dict[str, Any] = {"source": f"aos://api/keys/{who.key_id}", "type": body.type, "data": body.data,
                              TARGET_EXT: target}
    if body.id:
        fields["id"] = body.id
    if who.role is Role.AGENT:
        fields[SENDER_EXT] = who.agent_id
        fields["source"] = f"aos://agents/{who.agent_id}"

    await check_call(request, who, "agents.message", agent_id=target, event_type=body.type, target=target,
                     payload=body.data)

    async def work() -> tuple[int, Any]:
        event = Event.model_validate(fields)
        result = await system(request).kernel.publish(who.tenant, event, sender=who.agent_id)
        return 202, PublishResult(id=result.event_id, duplicate=result.duplicate,
                                  delivered_to=list(result.delivered_to)).model_dump(mode="json")

    return await idempotent(request, who, "agents.message", work)


@router.get("/{agent_id}/steps", response_model=StepPage, summary="What the agent received, decided, emitted")
async def steps(
    agent_id: str, request: Request, who: Annotated[Caller, governed("agents.steps")],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    before: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
) -> StepPage:
    who.require_agent_access(_agent_id(agent_id))
    items = await system(request).kernel.steps(who.tenant, agent_id, limit=limit, before=before)
    more = len(items) == limit and items[-1].seq > 1
    return StepPage(items=items, next_before=items[-1].seq if more else None)


@router.get("/{agent_id}/state", response_model=StateView, summary="The agent's persistent state")
async def state(agent_id: str, request: Request, who: Annotated[Caller, governed("agents.state")]) -> StateView:
    who.require_agent_access(_agent_id(agent_id))
    value, version = await system(request).kernel.agent_state(who.tenant, agent_id)
    return StateView(agent=agent_id, version=version, state=value)


