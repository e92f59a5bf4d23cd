"""Events arriving through Service Bus, Storage Queues and Event Grid, turned into `kernel.publish` calls.

Accepted shapes (all CloudEvents 1.0):
- structured: the message body is one CloudEvent as JSON, or a JSON array of them (a batch);
- binary (Service Bus, CloudEvents AMQP binding): attributes in application properties `cloudEvents:NAME`
  (or `cloudEvents_NAME`), the body is the data;
- Event Grid: CloudEvents schema events as they are; Event Grid schema events mapped field by field
  (`eventType` → `type`, `topic` → `source`, `eventTime` → `time`, `dataVersion` → extension `dataversion`).

Tenant: the CloudEvent extension attribute `aostenant` (or, on Service Bus, an application property of that
name); `AOS_DEFAULT_TENANT` otherwise. It is trusted as given: sending to `aos-events` needs the Service Bus
Data Sender role (or queue / Event Grid topic write access), so a producer that may send may name a tenant.
The attribute is removed before the event is published.

A message that can never be accepted (not JSON, not a CloudEvent, unknown tenant or target, a retired
target) raises `PoisonMessage`; a storage failure raises as it is. Both make the host retry, then give
up: see `aos.hosting.app` (Functions triggers) and `aos.runtime.ingress` (the embedded poller) for how each
transport dead-letters. This module depends on neither host: both decode through it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from aos.errors import AosError, Conflict, NotFound, StorageError, ValidationFailed
from aos.model import TENANT, Event

TENANT_EXT = "aostenant"
_BINARY_PREFIXES = ("cloudEvents:", "cloudEvents_")


class PoisonMessage(AosError):
    """A message that retrying cannot make acceptable. The host's delivery limit dead-letters it."""

    status, kind, title = 422, "poison-message", "Message cannot be accepted"


@dataclass(frozen=True)
class Inbound:
    tenant: str
    event: Event


def _json(body: bytes | str, where: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as e:
        raise PoisonMessage(f"{where}: body is not JSON ({e}); send a CloudEvent in structured JSON mode") from e


def _event(fields: Any, default_tenant: str, where: str, tenant_hint: str | None = None) -> Inbound:
    if not isinstance(fields, dict):
        raise PoisonMessage(f"{where}: a CloudEvent must be a JSON object, got {type(fields).__name__}")
    fields = dict(fields)
    tenant = str(fields.pop(TENANT_EXT, None) or tenant_hint or default_tenant)
    if not TENANT.match(tenant):
        raise PoisonMessage(f"{where}: '{tenant}' is not a valid tenant ({TENANT_EXT} attribute)")
    try:
        return Inbound(tenant, Event.model_validate(fields))
    except ValidationError as e:
        detail = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'event'}: {err['msg']}"
                           for err in e.errors()[:5])
        raise PoisonMessage(f"{where}: not a valid CloudEvent: {detail}") from e


def from_body(body: bytes | str, default_tenant: str, where: str, tenant_hint: str | None = None
              ) -> list[Inbound]:
    payload = _json(body, where)
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise PoisonMessage(f"{where}: empty batch")
    return [_event(item, default_tenant, f"{where} [{i}]" if isinstance(payload, list) else where, tenant_hint)
            for i, item in enumerate(items)]


def from_service_bus(body: bytes, properties: Mapping[str, Any], content_type: str | None,
                     default_tenant: str, where: str) -> list[Inbound]:
    hint = properties.get(TENANT_EXT)
    attrs = {name[len(p):]: value for name, value in properties.items()
             for p in _BINARY_PREFIXES if name.startswith(p)}
    if not attrs:
        return from_body(body, default_tenant, where, str(hint) if hint else None)
    attrs.pop("specversion", None)
    ctype = attrs.get("datacontenttype") or content_type or "application/json"
    if not isinstance(ctype, str):  # application properties are typed AMQP values: a number is no media type
        raise PoisonMessage(f"{where}: the datacontenttype attribute must be a string, got {type(ctype).__name__}")
    attrs["datacontenttype"] = ctype
    if body:
        attrs["data"] = _json(body, where) if "json" in ctype else body.decode("utf-8", errors="replace")
    return [_event(attrs, default_tenant, where, str(hint) if hint else None)]


def from_event_grid(event: Any, default_tenant: str) -> Inbound:
    """`func.CloudEvent` (CloudEvents schema) or `func.EventGridEvent` (Event Grid schema)."""
    where = f"event grid event {getattr(event, 'id', '?')}"
    if hasattr(event, "specversion"):
        fields: dict[str, Any] = {
            "id": event.id, "source": event.source, "type": event.type, "subject": event.subject,
            "time": event.time, "datacontenttype": event.datacontenttype, "dataschema": event.dataschema,
            "data": event.get_json(), **(event.extension_attrs or {}),
        }
    else:
        fields = {"id": event.id, "source": event.topic or "aos://eventgrid", "type": event.event_type,
                  "subject": event.subject, "time": event.event_time, "data": event.get_json()}
        if event.data_version:
            fields["dataversion"] = event.data_version
    return _event({k: v for k, v in fields.items() if v is not None}, default_tenant, where)


async def publish_all(kernel: Any, items: list[Inbound]) -> list[str]:
    """Publish each event (idempotent on id, so a redelivered message is a no-op); returns the event ids.

    Rejections that retrying cannot fix become `PoisonMessage`; a storage error propagates for a retry."""
    published: list[str] = []
    for item in items:
        try:
            result = await kernel.publish(item.tenant, item.event)
        except StorageError:
            raise
        except (NotFound, Conflict, ValidationFailed) as e:
            raise PoisonMessage(f"event {item.event.id} rejected in tenant '{item.tenant}': {e.detail}") from e
        published.append(result.event_id)
    return published
