"""Publishing CloudEvents over HTTP (structured, batched or binary mode) and reading the event log."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from aos.api.deps import MAX_POSITION, caller, system
from aos.api.guard import check_call, governed
from aos.api.views import EventPage, EventView, PublishResult
from aos.errors import MalformedRequest, PayloadTooLarge, ValidationFailed
from aos.kernel import Caller
from aos.model import SENDER_EXT, Event, Role

router = APIRouter(prefix="/api/events", tags=["events"])
Who = Annotated[Caller, Depends(caller)]
MAX_BODY = 1024 * 1024
MAX_BATCH = 500


def _binary(request: Request, raw: bytes) -> dict[str, Any]:
    """CloudEvents HTTP binary mode: attributes in `ce-*` headers, the body is the data."""
    fields: dict[str, Any] = {k[3:]: v for k, v in request.headers.items() if k.startswith("ce-")}
    content_type = request.headers.get("content-type", "application/json")
    fields["datacontenttype"] = content_type
    if raw:
        if "json" in content_type:
            try:
                fields["data"] = json.loads(raw)
            except ValueError as e:
                raise MalformedRequest(f"binary-mode body is not valid JSON: {e}") from e
        else:
            fields["data"] = raw.decode("utf-8", errors="replace")
    return fields


def _event(fields: Any, index: int | None, who: Caller) -> Event:
    where = "" if index is None else f"event [{index}]: "
    if not isinstance(fields, dict):
        raise ValidationFailed(f"{where}a CloudEvent must be a JSON object")
    if who.role is Role.AGENT:
        fields = {**fields, SENDER_EXT: who.agent_id}
    elif SENDER_EXT in fields:
        # agents and egress trust it as "emitted by this agent": only AOS sets it, from an agent's credential
        raise ValidationFailed(f"{where}'{SENDER_EXT}' is set by AOS from an agent key, never by the caller: "
                               "remove it (an event published with this key comes from the key)")
    try:
        return Event.model_validate(fields)
    except ValidationError as e:
        errors: list[dict[str, object]] = [
            {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in e.errors()]
        detail = "; ".join(f"{err['loc'] or 'event'}: {err['msg']}" for err in errors[:5])
        raise ValidationFailed(f"{where}not a valid CloudEvent: {detail}", errors=errors) from e


@router.post("", status_code=202, summary="Publish a CloudEvent (or a JSON array of them)",
             response_model=PublishResult | list[PublishResult],
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/cloudevents+json": {"schema": Event.model_json_schema()},
                 "application/cloudevents-batch+json": {"schema": {"type": "array", "items": {"type": "object"}}},
             }}})
async def publish(request: Request, who: Annotated[Caller, governed("events.publish")]) -> Any:
    who.require(Role.ADMIN, Role.OPERATOR, Role.AGENT)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"request body is {len(raw)} bytes; the limit is {MAX_BODY}")
    if "ce-id" in request.headers:
        payload: Any = _binary(request, raw)
    else:
        try:
            payload = json.loads(raw)
        except ValueError as e:
            raise MalformedRequest(f"the request body is not valid JSON: {e}") from e
    kernel = system(request).kernel
    if isinstance(payload, list):
        if not 1 <= len(payload) <= MAX_BATCH:
            raise ValidationFailed(f"a batch holds 1-{MAX_BATCH} events, got {len(payload)}")
        events = [_event(item, i, who) for i, item in enumerate(payload)]  # all valid before any is accepted
        for ev in events:  # all allowed before any is accepted
            await check_call(request, who, "events.publish", event_type=ev.type, target=ev.target, payload=ev.data)
        results = await kernel.publish_many(who.tenant, events, sender=who.agent_id)  # all or none accepted
        return [PublishResult(id=r.event_id, duplicate=r.duplicate, delivered_to=list(r.delivered_to))
                for r in results]
    event = _event(payload, None, who)
    await check_call(request, who, "events.publish", event_type=event.type, target=event.target, payload=event.data)
    result = await kernel.publish(who.tenant, event, sender=who.agent_id)
    return PublishResult(id=result.event_id, duplicate=result.duplicate, delivered_to=list(result.delivered_to))


@router.get("", response_model=EventPage, summary="The tenant's event log, newest first")
async def list_events(
    request: Request, who: Annotated[Caller, governed("events.list")],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
    type: Annotated[str | None, Query(description="type prefix", max_length=256)] = None,
) -> EventPage:
    who.require(Role.ADMIN, Role.OPERATOR, Role.READER)
    items = await system(request).kernel.events(who.tenant, limit=limit, before=before, type_prefix=type)
    more = len(items) == limit
    return EventPage(items=[EventView.of(a) for a in items], next_before=items[-1].pos if more else None)
