"""Response and request bodies of the HTTP API (what OpenAPI publishes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aos.model import AgentRecord, AgentSpec, ApiKeyRecord, Role, StepRecord
from aos.ports import AcceptedEvent


class AgentView(BaseModel):
    id: str
    tenant: str
    state: str
    activity: str = Field(description="running while a step is in flight, idle otherwise")
    version: int
    spec: AgentSpec
    created_at: datetime
    updated_at: datetime
    next_wake_at: datetime | None
    failure: str | None
    failures: int
    restarts: int
    pending: int | None = Field(default=None, description="events waiting in the mailbox (single-agent reads)")
    links: dict[str, str]

    @classmethod
    def of(cls, record: AgentRecord, running: bool, pending: int | None = None) -> AgentView:
        return cls(
            id=record.id, tenant=record.tenant, state=record.state.value,
            activity="running" if running else "idle", version=record.version, spec=record.spec,
            created_at=record.created_at, updated_at=record.updated_at, next_wake_at=record.next_wake_at,
            failure=record.failure, failures=record.failures, restarts=record.restarts, pending=pending,
            links={"self": f"/api/agents/{record.id}", "steps": f"/api/agents/{record.id}/steps",
                   "messages": f"/api/agents/{record.id}/messages", "context": f"/mcp/agents/{record.id}"},
        )


class AgentPage(BaseModel):
    items: list[AgentView]
    next_cursor: str | None


class StepPage(BaseModel):
    items: list[StepRecord]
    next_before: int | None


class PublishResult(BaseModel):
    id: str
    duplicate: bool = Field(description="true when this event id was already accepted (nothing new happened)")
    delivered_to: list[str]


class EventView(BaseModel):
    pos: int
    event: dict[str, Any]
    delivered_to: list[str]
    accepted_at: datetime

    @classmethod
    def of(cls, accepted: AcceptedEvent) -> EventView:
        names = [key.partition("/")[2] or key for key in accepted.delivered_to]
        return cls(pos=accepted.pos, event=accepted.event.wire(), delivered_to=names,
                   accepted_at=accepted.accepted_at)


class EventPage(BaseModel):
    items: list[EventView]
    next_before: int | None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(default="aos.message", min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._:/-]+$")
    data: Any = None
    id: str | None = Field(default=None, min_length=1, max_length=256,
                           description="event id; a repeated id is accepted once")


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    agent_id: str | None = Field(default=None, description="required for role 'agent': the agent it acts as")
    name: str = Field(default="", max_length=200)


class KeyView(BaseModel):
    id: str
    tenant: str
    role: Role
    agent_id: str | None
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> KeyView:
        return cls(id=record.id, tenant=record.tenant, role=record.role, agent_id=record.agent_id,
                   name=record.name, created_at=record.created_at, revoked_at=record.revoked_at)


class IssuedKey(KeyView):
    secret: str = Field(description="shown once; store it now")


class StateView(BaseModel):
    agent: str
    version: int
    state: dict[str, Any]
