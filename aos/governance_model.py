"""Pydantic models of governance that cross a boundary: policy documents (system-call bodies, stored),
audit records, approvals, and the canonical hashing of the audit chain.

They live beside `aos.model` (not in the kernel) because the ports and their adapters store them, and
adapters import only `aos.ports` and the models.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from enum import Enum
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
ACTION = re.compile(r"^([a-z]+\.[a-z_.]+|tool\.call:[A-Za-z0-9_.*-]+|\*|[a-z]+\.\*)$")

#: The actions a rule can name. System calls are `<router>.<call>`; agent effects are the rest.
SYSTEM_CALLS = (
    "agents.register", "agents.list", "agents.get", "agents.suspend", "agents.resume", "agents.retire",
    "agents.message", "agents.steps", "agents.state", "agents.usage", "events.publish", "events.list",
    "keys.issue", "keys.list", "keys.revoke", "policies.put", "policies.get", "policies.list",
    "policies.delete", "policies.simulate", "audit.list", "audit.verify", "approvals.list",
    "approvals.decide", "usage.get",
)
EFFECT_ACTIONS = ("message.send", "event.emit", "state.write", "context.write", "model.call", "tool.call:NAME")

METRICS = ("tokens", "model_calls", "tool_calls", "messages", "events", "steps")
PERIODS = {"minute": 60, "hour": 3600, "day": 86400}


class Verdict(str, Enum):
    ALLOW = "allow"
    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)


def _every_day() -> list[Weekday]:
    return list(WEEKDAYS)


class TimeWindow(BaseModel):
    """Matches when the wall clock (UTC) is inside [start, end) on one of `days` (end < start wraps midnight)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    days: list[Weekday] = Field(default_factory=_every_day)
    start: str = Field(default="00:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="24:00", pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")


#: Validation context for records read back from storage: checks added for new input (what a PUT must pass)
#: are skipped, so a document stored before a check existed still loads (and evaluates without raising).
STORED: dict[str, Any] = {"stored": True}

#: Operators of a payload condition (`{path: {op: value}}`), and what each needs as its value.
PAYLOAD_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "exists")
_ORDERED_OPS = ("gt", "gte", "lt", "lte")


def is_number(value: Any) -> bool:
    """What gt/gte/lt/lte compare: an int or a float, not a bool (the check at PUT and the evaluation agree)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Conditions(BaseModel):
    """All given conditions must hold (AND); a list matches any of its items (OR). Globs end in `*`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    roles: list[Literal["admin", "operator", "agent", "reader", "kernel"]] | None = Field(
        default=None, description="caller role; agent effects are evaluated with role 'agent'")
    agent_labels: dict[str, str] | None = Field(default=None, description="labels the acting agent must carry")
    agents: list[str] | None = Field(default=None, description="acting/subject agent ids (globs allowed)")
    event_types: list[str] | None = Field(default=None, description="event type, exact or prefix glob `a.*`")
    targets: list[str] | None = Field(default=None, description="target agent of a message/event")
    time: TimeWindow | None = None
    payload: dict[str, Any] | None = Field(
        default=None, description="dotted path → value (equality) or {op: value}, op in eq ne gt gte lt lte "
                                  "in exists")

    @field_validator("payload")
    @classmethod
    def _payload_ops(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        """An operator's value must be one it can compare with: a number for gt/gte/lt/lte, a list for `in`,
        true or false for `exists`. Why here: a policy is evaluated on every call and effect of its scope,
        and `{gt: "abc"}` made each of them fail (a 500 on every matching publish) instead of the PUT. Not on
        records read back (`STORED`): one saved before this check must still load."""
        if info.context and info.context.get("stored"):
            return value
        for path, cond in (value or {}).items():
            if not (isinstance(cond, dict) and cond and all(k in PAYLOAD_OPS for k in cond)):
                continue  # a plain value: equality
            for op, arg in cond.items():
                if op in _ORDERED_OPS and not is_number(arg):
                    raise ValueError(f"payload '{path}': {op} compares numbers, got {json.dumps(arg, default=str)}")
                if op == "in" and not isinstance(arg, list):
                    raise ValueError(f"payload '{path}': in needs a list of values, got {json.dumps(arg, default=str)}")
                if op == "exists" and not isinstance(arg, bool):
                    raise ValueError(f"payload '{path}': exists is true or false, got {json.dumps(arg, default=str)}")
        return value


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    actions: list[str] = Field(min_length=1, max_length=50, description=f"system calls {SYSTEM_CALLS} or "
                               f"effects {EFFECT_ACTIONS}; `*` and `prefix.*` globs allowed")
    effect: Verdict
    reason: str = Field(default="", max_length=500)
    when: Conditions = Field(default_factory=Conditions)

    @field_validator("actions")
    @classmethod
    def _actions(cls, value: list[str]) -> list[str]:
        for a in value:
            if not ACTION.match(a):
                raise ValueError(f"'{a}' is not an action: use e.g. agents.register, message.send, "
                                 "tool.call:NAME, model.call, agents.* or *")
        return value


class Budget(BaseModel):
    """At most `limit` of `metric` per `period`, counted per agent (each agent alone) or for the whole tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    metric: Literal["tokens", "model_calls", "tool_calls", "messages", "events", "steps"]
    period: Literal["minute", "hour", "day"]
    limit: int = Field(ge=0)
    per: Literal["agent", "tenant"] = "agent"


class Scope(BaseModel):
    """Exactly one of: the whole tenant, one agent, or the agents whose labels match `labels`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tenant: bool = False
    agent: str | None = None
    labels: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one(self) -> Scope:
        if sum([self.tenant, self.agent is not None, self.labels is not None]) != 1:
            raise ValueError("scope needs exactly one of tenant: true, agent: ID, labels: {k: v}")
        return self


class PolicyDocument(BaseModel):
    """A policy as written by an admin (YAML or JSON). `GET /api/policies/schema` publishes its JSON schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str = Field(default="", max_length=2000)
    scope: Scope = Field(default_factory=lambda: Scope(tenant=True))
    enabled: bool = True
    default: Literal["allow", "deny"] | None = Field(
        default=None, description="the tenant's default when no rule matches (tenant-scoped policies only)")
    rules: list[Rule] = Field(default_factory=list, max_length=1000)
    budgets: list[Budget] = Field(default_factory=list, max_length=100)
    approval_timeout_s: int = Field(default=3600, ge=1, le=30 * 86400)

    @model_validator(mode="after")
    def _check(self) -> PolicyDocument:
        if self.default is not None and not self.scope.tenant:
            raise ValueError("default applies to the whole tenant: only a tenant-scoped policy may set it")
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique within a policy")
        return self


class PolicyRecord(BaseModel):
    """One stored version of a named policy. Versions start at 1 and every PUT adds one."""

    model_config = ConfigDict(extra="forbid")
    tenant: str
    name: str
    version: int
    document: PolicyDocument
    updated_at: datetime
    updated_by: str = ""
    deleted: bool = False


def validate_policy_name(name: str) -> str:
    if not POLICY_NAME.match(name):
        raise ValueError(f"policy name '{name}' must be 1-63 chars of a-z, 0-9 and '-'")
    return name


# ---------------------------------------------------------------- audit


class AuditRecord(BaseModel):
    """One link of a tenant's audit chain. `hash` = SHA-256 over `prev` and the canonical JSON of the rest."""

    model_config = ConfigDict(extra="forbid")
    tenant: str
    seq: int
    ts: str
    kind: str
    action: str
    actor: str = ""
    agent_id: str | None = None
    outcome: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    prev: str
    hash: str


#: Hash of "nothing before": the `prev` of each tenant's first record.
GENESIS = "0" * 64


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8: the same record always serializes to the same bytes."""
    return _CANONICAL.encode(value)


def audit_hash(fields: dict[str, Any], prev: str) -> str:
    """The chain hash of a record given its fields (everything except `hash`; `prev` included)."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    body["prev"] = prev
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def chain_record(tenant: str, seq: int, prev: str, entry: dict[str, Any]) -> AuditRecord:
    """Build the stored record for `entry` (ts, kind, action, actor, agent_id, outcome, details) at `seq`."""
    fields = {"tenant": tenant, "seq": seq, **entry, "prev": prev}
    # constructed, not validated: `entry` is an `AuditEntry.fields()` (typed), and this runs once per step
    return AuditRecord.model_construct(**fields, hash=audit_hash(fields, prev))


def chain_records(tenant: str, seq: int, prev: str, entries: list[dict[str, Any]]) -> list[AuditRecord]:
    """Chain `entries` after the record (`seq`, `prev`): numbered seq+1, seq+2, ..., each carrying the hash of
    the one before it. Every AuditLog adapter appends through this, so all of them build the same chain."""
    out = []
    for entry in entries:
        seq += 1
        record = chain_record(tenant, seq, prev, entry)
        prev = record.hash
        out.append(record)
    return out


# ---------------------------------------------------------------- approvals


class ApprovalStatus(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Approval(BaseModel):
    """An effect parked by a `require_approval` rule until an operator decides (or its timeout rejects it)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    tenant: str
    agent_id: str
    seq: int
    index: int
    action: str
    effect: dict[str, Any] = Field(description="the effect as decided (kind + fields)")
    event: dict[str, Any] | None = Field(default=None, description="emit/send: the event, with its fixed id")
    policy: str
    rule: str
    reason: str
    status: ApprovalStatus = ApprovalStatus.PENDING
    requested_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    note: str | None = None
    applied: bool = False
