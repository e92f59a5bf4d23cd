"""Item ids, partition-key values and containers of every Cosmos document AOS writes: the layout in one place.

Containers and partition keys are those of `aos.adapters.azure.names.COSMOS_CONTAINERS` (infra/ creates exactly
these). Where a port needs a partition that is not an agent or a tenant, the partition-key value is synthetic and
starts with `~`, which no tenant slug or agent key can (`aos.model.TENANT`, `SLUG`):

| what | container | partition key value | id |
| --- | --- | --- | --- |
| agent record | agents | tenant | agent id |
| API key | agents | `~apikeys` (one partition: `by_hash` has no tenant) | `k-{key id}` |
| agent state | runtime | agent key | `state` |
| mailbox item | runtime | agent key | `m-{sha256(event id)}` (deterministic: re-delivery is a 409) |
| step | runtime | agent key | `s-{seq:012d}` |
| tenant event log item | runtime | `{tenant}/~events` | `ev-{sha256(event id)}` (the dedupe record) |
| tenant log position counter | runtime | `{tenant}/~events` | `~counter` |
| idempotent response | runtime | `~idem/{scope}` | `i-{key}` |
| context block / entry / archive | context | agent key | `b-{label}` / `e-{entry id}` / `a-{first}-{last}` |
| context sequence counter | context | agent key | `~head` |
| audit record | audit | tenant | `r-{seq:012d}` (derived from the seq: two writers of one seq → 409) |
| audit head (last seq + hash) | audit | tenant | `~head` |
| policy version | agents | tenant | `pol-{name}-{version:08d}` (never rewritten; a delete adds a tombstone) |
| usage bucket (one minute) | runtime | `{tenant}/~usage` | `u-{minute}-{agent id}`, tenant total `u-{minute}-~all` |
| approval | runtime | `{tenant}/~approvals` | `ap-{approval id}` |

Governance choices (aos.adapters.azure.cosmos.governance): the audit chain has its own container, one partition
per tenant, because its head and records must commit in one transactional batch. Policies are tenant
configuration read with the tenant's agents, so they sit in `agents` beside the agent records (few items, read
rarely: hosts cache the compiled set). Usage buckets and approvals are high-churn runtime data: `runtime`, each
in a synthetic per-tenant partition so an agent's and the tenant's usage commit in one batch, and a tenant's
approvals list is a single-partition query.

Ids: Cosmos refuses `/ \\ ? #` in ids and caps them at 255 chars, while event ids, API key ids and entry ids are
caller strings. `safe_id` keeps a plain string as it is and hashes anything else (`~` + SHA-256), so the
mapping is deterministic and collision-free in practice (a plain id never starts with `~`).
"""

from __future__ import annotations

import hashlib
import re

AGENTS = "agents"
RUNTIME = "runtime"
CONTEXT = "context"
AUDIT = "audit"

APIKEYS_PK = "~apikeys"
_PLAIN = re.compile(r"^[A-Za-z0-9._:@=+-]{1,200}$")


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def safe_id(value: str) -> str:
    return value if _PLAIN.match(value) else "~" + sha(value)


def events_pk(tenant: str) -> str:
    return f"{tenant}/~events"


def idem_pk(scope: str) -> str:
    return f"~idem/{scope}"


def msg_id(event_id: str) -> str:
    return "m-" + sha(event_id)


def log_id(event_id: str) -> str:
    return "ev-" + sha(event_id)


def step_id(seq: int) -> str:
    return f"s-{seq:012d}"


def audit_record_id(seq: int) -> str:
    return f"r-{seq:012d}"


def policy_id(name: str, version: int) -> str:
    return f"pol-{name}-{version:08d}"


def usage_pk(tenant: str) -> str:
    return f"{tenant}/~usage"


def usage_id(minute: int, who: str) -> str:
    return f"u-{minute}-{safe_id(who)}"


def approvals_pk(tenant: str) -> str:
    return f"{tenant}/~approvals"


def approval_id(value: str) -> str:
    return "ap-" + safe_id(value)
