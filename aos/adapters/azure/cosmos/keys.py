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

The `audit` container (pk `/tenant`) has no port yet: nothing here writes it.

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
