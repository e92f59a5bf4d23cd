"""Pydantic models that cross a boundary: system-call bodies, persisted records, the wire.

Internal values that never leave a process are frozen dataclasses next to the code that uses them.
"""

from __future__ import annotations

import functools
import re
import uuid
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG = re.compile(r"^[a-z][a-z0-9-]{1,62}[a-z0-9]$")
TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_EXT_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_CE_CORE = {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data"}

#: CloudEvent extension that names the one agent an event is addressed to (besides subscribers).
TARGET_EXT = "aostarget"
#: CloudEvent extension carrying the sending agent's id on agent-to-agent messages.
SENDER_EXT = "aossender"

#: Where a cron expression is tried from to see that it ever fires (a leap year, so Feb 29th counts).
_CRON_PROBE = datetime(2000, 1, 1, tzinfo=timezone.utc)


@functools.lru_cache(maxsize=4096)
def _cron_problem(expr: str) -> str | None:
    """What is wrong with a cron expression, or None. Cached: a spec is validated again at every read of its
    record from storage, and the two croniter calls cost ~0.4 ms an expression."""
    from croniter import CroniterError, croniter

    if not croniter.is_valid(expr):
        return f"'{expr}' is not a valid cron expression (5 fields, e.g. '*/5 * * * *')"
    try:  # valid syntax can still name a date that never comes (`0 0 31 2 *`: February 31st)
        croniter(expr, _CRON_PROBE).get_next(datetime)
    except CroniterError:
        return f"'{expr}' never fires (no such date); check its day and month fields"
    return None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def agent_key(tenant: str, agent_id: str) -> str:
    """The storage key of an agent: unique across tenants, used as partition key in Azure."""
    return f"{tenant}/{agent_id}"


def validate_slug(value: str, what: str = "id") -> str:
    if not SLUG.match(value):
        raise ValueError(
            f"{what} '{value}' is not a valid slug: 3-64 chars of a-z, 0-9 and '-', starting with a letter"
        )
    return value


# ---------------------------------------------------------------- events


class Event(BaseModel):
    """A CloudEvent 1.0 in structured JSON mode. Extension attributes are kept as extra fields."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=2048, description="URI-reference of the producer")
    type: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._:/-]+$")
    subject: str | None = Field(default=None, max_length=1024)
    time: datetime | None = None
    datacontenttype: str | None = "application/json"
    dataschema: str | None = None
    data: Any = None

    @model_validator(mode="after")
    def _check_extensions(self) -> Event:
        for name in (self.model_extra or {}):
            if not _EXT_NAME.match(name):
                raise ValueError(f"CloudEvent extension attribute '{name}' must be 1-20 chars of a-z and 0-9")
        return self

    @property
    def target(self) -> str | None:
        value = (self.model_extra or {}).get(TARGET_EXT)
        return str(value) if value else None

    @property
    def sender(self) -> str | None:
        value = (self.model_extra or {}).get(SENDER_EXT)
        return str(value) if value else None

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------- agent spec


class Subscription(BaseModel):
    """Which events wake the agent. `type` is exact, a prefix glob (`ticket.*`) or `*`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(min_length=1, max_length=256, pattern=r"^([A-Za-z0-9._:/-]+(\.\*)?|\*)$")
    source: str | None = Field(default=None, description="exact source, or prefix ending in '*'")
    subject: str | None = Field(default=None, description="exact subject, or prefix ending in '*'")


class BrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["python", "scripted", "openai"]
    settings: dict[str, Any] = Field(default_factory=dict)


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_events_per_step: int = Field(default=32, ge=1, le=1000)
    step_timeout_s: float = Field(default=60.0, gt=0, le=900)


class AgentSpec(BaseModel):
    """What a user registers. The tenant is never part of it: it comes from the caller's key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="slug, unique within the tenant")
    purpose: str = Field(default="", max_length=4000)
    brain: BrainSpec
    subscriptions: list[Subscription] = Field(default_factory=list, max_length=100)
    schedule: list[str] = Field(default_factory=list, max_length=20, description="cron expressions (UTC)")
    limits: Limits = Field(default_factory=Limits)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        return validate_slug(value, "agent id")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: list[str]) -> list[str]:
        for expr in value:
            problem = _cron_problem(expr)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 32:
            raise ValueError("at most 32 labels")
        for k, v in value.items():
            if not re.match(r"^[a-z0-9][a-z0-9._/-]{0,62}$", k) or len(v) > 256:
                raise ValueError(f"label '{k}' must be a lowercase key of 1-63 chars with a value of ≤256 chars")
        return value


class AgentState(str, Enum):
    REGISTERED = "registered"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RETIRED = "retired"
    FAILED = "failed"


class AgentRecord(BaseModel):
    """The persisted row of an agent. `version` increases on every write (optimistic concurrency)."""

    model_config = ConfigDict(extra="forbid")

    tenant: str
    spec: AgentSpec
    state: AgentState = AgentState.REGISTERED
    version: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    next_wake_at: datetime | None = None
    failure: str | None = None
    failures: int = Field(default=0, description="consecutive failed steps; reset by a successful one")
    restarts: int = 0
    incarnation: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:12],
        description="new for every registration of this id, so ids derived from (agent, step) never collide "
        "with those of a purged agent of the same name",
    )

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def key(self) -> str:
        return agent_key(self.tenant, self.spec.id)


# ---------------------------------------------------------------- effects and decisions


class EmitEffect(BaseModel):
    """Publish an event into the tenant; subscribers wake. `to` also addresses one agent directly."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["emit"] = "emit"
    type: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._:/-]+$")
    data: Any = None
    subject: str | None = None
    to: str | None = None


class SendEffect(BaseModel):
    """A message to one agent (the `aos.message` family); only the target wakes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["send"] = "send"
    to: str
    type: str = Field(default="aos.message", min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._:/-]+$")
    data: Any = None


class StateEffect(BaseModel):
    """Merge `set` into the agent's state and drop `unset` keys. Idempotent: applying it twice is a no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["state"] = "state"
    set: dict[str, Any] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)


class NoteEffect(BaseModel):
    """A line in the agent's context journal."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["note"] = "note"
    text: str = Field(min_length=1, max_length=16_000)


Effect = Annotated[EmitEffect | SendEffect | StateEffect | NoteEffect, Field(discriminator="kind")]


class EffectOutcome(BaseModel):
    """What governance did with one effect of a decision instead of applying it: `denied` (a policy rule or a
    budget) or `held` (parked as approval `approval_id`). Effects without an outcome were allowed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    index: int
    action: str
    outcome: Literal["denied", "held"]
    policy: str = ""
    rule: str = ""
    reason: str = ""
    approval_id: str | None = None


class Decision(BaseModel):
    """What a brain decided for one step. Journaled before any effect is applied (invariant 2).

    `outcomes` is set by the kernel (never the brain) before journaling: the effects governance denied or
    held. A retried step reuses them, so a policy change between attempts cannot apply a denied effect."""

    model_config = ConfigDict(extra="forbid")
    effects: list[Effect] = Field(default_factory=list)
    summary: str | None = None
    model_calls: int = 0
    tokens: int = 0
    tool_calls: int = 0
    outcomes: list[EffectOutcome] = Field(default_factory=list)


class StepStatus(str, Enum):
    CLAIMED = "claimed"
    DECIDED = "decided"
    DONE = "done"
    FAILED = "failed"


class StepRecord(BaseModel):
    """One step in an agent's journal: what it received, what it decided, how it ended."""

    model_config = ConfigDict(extra="forbid")
    agent_id: str
    seq: int
    status: StepStatus
    events: list[Event]
    decision: Decision | None = None
    error: str | None = None
    attempts: int = 1
    started_at: datetime
    finished_at: datetime | None = None


# ---------------------------------------------------------------- auth records


class Role(str, Enum):
    ADMIN = "admin"
    OPERATOR = "operator"
    AGENT = "agent"
    READER = "reader"


class ApiKeyRecord(BaseModel):
    """An API key at rest: only its SHA-256 hash is stored; the secret is shown once at issue."""

    model_config = ConfigDict(extra="forbid")
    id: str
    tenant: str
    role: Role
    agent_id: str | None = None
    name: str = ""
    secret_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class Page(BaseModel):
    items: list[Any]
    next_cursor: str | None = None
