"""The audit trail: building redacted entries, appending them, and verifying a tenant's hash chain.

Every record carries the hash of the one before it (per tenant), so altering, removing or reordering any
stored row breaks the chain at that row, and the head kept beside the log catches a removed tail. Secrets
never enter a record: values under names like key/secret/token/password/authorization are replaced before
hashing (counts such as `tokens: 812` are numbers and are kept).
"""

from __future__ import annotations

import functools
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aos.governance_model import GENESIS, AuditRecord, audit_hash
from aos.ports import AuditEntry, AuditLog, Clock

_SECRET_NAME = re.compile(r"(key|secret|token|password|passwd|authorization|credential|signature)s?$", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(value: Any, depth: int = 0) -> Any:
    """A copy of `value` with secret-named string values replaced; deep structures are cut at depth 8."""
    if depth > 8:
        return "[truncated]"
    if isinstance(value, dict):
        if all(type(v) is int for v in value.values()):
            return dict(value)  # numbers only (a step's counts): nothing to hide
        return {k: (REDACTED if _secret_name(str(k)) and not _plain_number(v) else redact(v, depth + 1))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, depth + 1) for v in value[:100]]
    if isinstance(value, str) and value.startswith("aos_") and value.count("_") >= 2:
        return REDACTED  # looks like an API key, whatever it is called
    return value


@functools.lru_cache(maxsize=4096)
def _secret_name(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None


def _plain_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) or v is None


@dataclass(frozen=True)
class Broken:
    seq: int
    reason: str


@dataclass(frozen=True)
class Verification:
    tenant: str
    ok: bool
    records: int
    head_seq: int
    first_broken: Broken | None = None


class Auditor:
    def __init__(self, log: AuditLog, clock: Clock) -> None:
        self.log = log
        self._clock = clock

    def entry(self, kind: str, action: str, *, actor: str = "", agent_id: str | None = None, outcome: str = "",
              **details: Any) -> AuditEntry:
        return AuditEntry(ts=self._clock.now().isoformat(), kind=kind, action=action, actor=actor,
                          agent_id=agent_id, outcome=outcome, details=redact(details) if details else None)

    async def append(self, tenant: str, entries: list[AuditEntry]) -> None:
        if entries:
            await self.log.append(tenant, entries)

    async def verify(self, tenant: str, page: int = 1000) -> Verification:
        """Recompute the chain from the first record; name the first record that does not fit."""
        head_seq, head_hash = await self.log.head(tenant)
        expected_seq, prev, count = 1, GENESIS, 0
        while True:
            rows = await self.log.scan(tenant, after=expected_seq - 1, limit=page)
            for r in rows:
                broken = _check(r, expected_seq, prev)
                if broken is not None:
                    return Verification(tenant, False, count, head_seq, broken)
                expected_seq, prev, count = r.seq + 1, r.hash, count + 1
            if len(rows) < page:
                break
        last = expected_seq - 1
        if (last, prev) != (head_seq, head_hash):
            return Verification(tenant, False, count, head_seq, await self._head_mismatch(tenant, last, head_seq,
                                                                                         head_hash))
        return Verification(tenant, True, count, head_seq)

    async def _head_mismatch(self, tenant: str, last: int, head_seq: int, head_hash: str) -> Broken:
        """Why the intact chain and the head disagree. A head *behind* a chain that passes through it is an append
        that stopped between its records and its head (a store without transactions: Cosmos emulator fallback),
        not tampering; it is still reported, as what it is."""
        if last > head_seq:
            at_head = await self.log.scan(tenant, after=head_seq - 1, limit=1) if head_seq else []
            if head_seq == 0 or (at_head and at_head[0].seq == head_seq and at_head[0].hash == head_hash):
                return Broken(head_seq + 1, f"records {head_seq + 1}..{last} are past the head ({head_seq}): an "
                                            "append stopped after writing its records and before moving the head "
                                            "(nothing is missing; the next append moves the head over them)")
            return Broken(head_seq, f"the head ({head_seq}) does not match record {head_seq}: the head was altered")
        return Broken(last + 1, f"the log ends at record {last} but its head says {head_seq}: records were "
                                "removed from the end (or the head was altered)")


def _check(r: AuditRecord, expected_seq: int, prev: str) -> Broken | None:
    if r.seq != expected_seq:
        return Broken(expected_seq, f"record {expected_seq} is missing or out of order (found record {r.seq} in its place)")
    if r.prev != prev:
        return Broken(r.seq, "its prev hash is not the hash of the record before it (removed or reordered)")
    fields = r.model_dump()
    if audit_hash(fields, r.prev) != r.hash:
        return Broken(r.seq, "its content does not match its hash (the record was altered)")
    return None


@dataclass
class PendingAudit:
    """The records of one system call, written together when its response starts (one append per call).

    The API sets one per request in `PENDING`; kernel code that audits something during the call (a lifecycle
    change, an approval) adds to it instead of writing on its own."""

    tenant: str | None = None
    call: AuditEntry | None = None
    entries: list[AuditEntry] | None = None
    verdict: dict[str, Any] | None = None
    flushed: bool = False

    def add(self, entries: list[AuditEntry]) -> None:
        self.entries = (self.entries or []) + entries


PENDING: ContextVar[PendingAudit | None] = ContextVar("aos_pending_audit", default=None)


async def record(auditor: Auditor, tenant: str, entries: list[AuditEntry]) -> None:
    """Add `entries` to the current system call's audit (same tenant), or append them now."""
    pending = PENDING.get()
    if pending is not None and not pending.flushed and pending.tenant in (None, tenant):
        pending.tenant = tenant
        pending.add(entries)
        return
    await auditor.append(tenant, entries)
