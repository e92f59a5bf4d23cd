"""The ports of AOS: async ABCs the kernel talks to, each with its contract.

Adapters live in `aos.adapters.embedded` (SQLite, in-memory) and `aos.adapters.azure`. Every adapter runs the
same contract suite (`tests/contract/`). "Durable on return" means: once the coroutine returns, a process crash
does not undo the write. Every method raises `aos.errors.StorageError` (with the cause chained) when the backing
store fails; the other errors listed are part of the contract.

Keys: an agent is addressed in storage by its *agent key* ``"{tenant}/{agent_id}"`` (`aos.model.agent_key`).
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aos.errors import Conflict
from aos.governance_model import Approval, AuditRecord, PolicyRecord
from aos.model import AgentRecord, AgentState, ApiKeyRecord, Decision, Event, StepRecord


@dataclass(frozen=True)
class Claim:
    """The batch a step works on. `decision` is set when an earlier attempt already journaled one."""

    seq: int
    events: list[Event]
    decision: Decision | None
    attempts: int


@dataclass(frozen=True)
class Delivery:
    """What `Mailbox.deliver` did: `duplicate` is True when the event id was already accepted."""

    duplicate: bool
    agent_keys: tuple[str, ...]


@dataclass(frozen=True)
class AcceptedEvent:
    """An event as the tenant's event log holds it: position (increasing per store), where it went, when."""

    pos: int
    event: Event
    delivered_to: tuple[str, ...]
    accepted_at: datetime


@dataclass(frozen=True)
class BlobRef:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class IdempotentResponse:
    request_hash: str
    status: int
    body: Any


class AgentRegistry(abc.ABC):
    """Agent records per tenant.

    Contract:
    - `create` stores a new record at version 1 and returns it; raises `AgentExists` if (tenant, id) exists,
      whatever its state (a retired agent keeps its id until purged).
    - `get` raises `AgentNotFound`. `update` is compare-and-set on `record.version`: it stores the record at
      version+1 and returns it, or raises `VersionConflict` if the stored version differs (`AgentNotFound` if
      gone). `delete` removes the record (purge) and returns whether it existed.
    - `list` pages by agent id ascending; the cursor is opaque; `labels` must all match.
    - `subscribers` returns the records in `tenant` having a subscription whose type pattern matches
      `event_type` (exact, prefix glob `a.b.*`, or `*`); source/subject filters are left to the caller.
    - `due` returns up to `limit` ACTIVE records (any tenant) whose `next_wake_at` is ≤ `now`, oldest first.
    - Reading never loads agents that were not asked for: booting with 100,000 agents costs nothing.
    """

    @abc.abstractmethod
    async def create(self, record: AgentRecord) -> AgentRecord: ...

    @abc.abstractmethod
    async def get(self, tenant: str, agent_id: str) -> AgentRecord: ...

    @abc.abstractmethod
    async def update(self, record: AgentRecord) -> AgentRecord: ...

    @abc.abstractmethod
    async def delete(self, tenant: str, agent_id: str) -> bool: ...

    @abc.abstractmethod
    async def list(
        self,
        tenant: str,
        *,
        state: AgentState | None = None,
        labels: dict[str, str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[AgentRecord], str | None]: ...

    @abc.abstractmethod
    async def subscribers(self, tenant: str, event_type: str) -> builtins.list[AgentRecord]: ...

    @abc.abstractmethod
    async def due(self, now: datetime, limit: int = 100) -> builtins.list[AgentRecord]: ...

    @abc.abstractmethod
    async def count(self) -> int: ...


class Mailbox(abc.ABC):
    """Each agent's durable inbox plus its step journal.

    Contract:
    - `deliver(tenant, event, keys)` records `event.id` as accepted for the tenant and appends the event to each
      key's mailbox, atomically and durably on return. If the tenant already accepted that id it changes nothing
      and returns `duplicate=True`. Appending the same event id to the same key twice (through any call) is a
      no-op, for as long as the step journal remembers the key, even after the event was processed: this is
      what makes re-applied effects harmless (invariant 2).
    - `deliver_many(tenant, items)`: `deliver` for each `(event, keys)` in order, returning their deliveries in
      order (an id met again later in the batch is a duplicate of its first). Adapters that can accept the
      whole batch in one transaction do, all or nothing (SQLite); the default delivers one by one, so a
      storage failure part-way leaves the earlier events accepted, and delivering the batch again is harmless.
    - `begin_step(key, agent_id, max_events)`: if the key has an unfinished step (claimed or decided, not done
      or failed), returns it again with `attempts` + 1 and its journaled decision, if any. Otherwise claims up
      to `max_events` pending events, oldest first, into a new step with the next sequence number (1, 2, ...).
      Returns None when nothing is pending. Callers serialize steps per key (invariant 3); the port does not
      lock across processes.
    - `record_decision(key, seq, decision)`: journals the decision of an unfinished step and returns the
      journaled one; if one was already journaled, the first one wins and is returned unchanged.
    - `complete_step(key, seq)`: marks the step done and its events processed. Idempotent.
    - `finish_step(key, seq, decision)`: `record_decision` then `complete_step`, for a decision with nothing to
      apply in between; adapters that can write both at once do (one commit instead of two). If a different
      decision was already journaled, raises `Conflict` and completes nothing (its effects are not applied).
    - `fail_step(key, seq, error)`: marks the step failed (its events stay in the journal, dead-lettered,
      readable through `steps`). Idempotent.
    - `pending(key)` counts events not yet claimed by a finished step; `keys_with_work()` lists keys with
      pending events or an unfinished step (the self-heal sweep).
    - `steps(key, limit, before)` pages the journal newest first; `before` is a sequence number.
    - `purge(key)` removes everything the mailbox holds for the key and returns how many rows went.
    - `events(tenant, limit, before, type_prefix)` pages the tenant's accepted events newest first (the event
      log: what came in and what agents emitted); `before` is a `pos`; `type_prefix` filters on `type`.
    """

    #: True when the adapter runs its operations in the order they are queued, on one connection, and queues
    #: `deliver`'s before the call first suspends: an operation queued later (a claim) then sees the delivery,
    #: committed or not yet. The embedded stores do; the kernel then wakes an in-process host's workers before
    #: the delivery returns, so the claim can share its commit (see `Kernel.publish`).
    accepts_in_order: bool = False

    @abc.abstractmethod
    async def deliver(self, tenant: str, event: Event, keys: Sequence[str]) -> Delivery: ...

    async def deliver_many(self, tenant: str, items: Sequence[tuple[Event, Sequence[str]]]) -> list[Delivery]:
        return [await self.deliver(tenant, event, keys) for event, keys in items]

    @abc.abstractmethod
    async def begin_step(self, key: str, agent_id: str, max_events: int) -> Claim | None: ...

    @abc.abstractmethod
    async def record_decision(self, key: str, seq: int, decision: Decision) -> Decision: ...

    @abc.abstractmethod
    async def complete_step(self, key: str, seq: int) -> None: ...

    async def finish_step(self, key: str, seq: int, decision: Decision) -> None:
        journaled = await self.record_decision(key, seq, decision)
        if journaled != decision:
            raise Conflict(f"step {seq} of '{key}' already journaled another decision", key=key)
        await self.complete_step(key, seq)

    @abc.abstractmethod
    async def fail_step(self, key: str, seq: int, error: str) -> None: ...

    @abc.abstractmethod
    async def pending(self, key: str) -> int: ...

    @abc.abstractmethod
    async def keys_with_work(self, limit: int = 1000) -> list[str]: ...

    @abc.abstractmethod
    async def steps(self, key: str, *, limit: int = 20, before: int | None = None) -> list[StepRecord]: ...

    @abc.abstractmethod
    async def purge(self, key: str) -> int: ...

    @abc.abstractmethod
    async def events(
        self, tenant: str, *, limit: int = 50, before: int | None = None, type_prefix: str | None = None
    ) -> list[AcceptedEvent]: ...


class StateStore(abc.ABC):
    """An agent's private key/value state, one JSON object per agent key.

    Contract: `get` returns `({}, 0)` for an agent that never wrote. `put` is compare-and-set on
    `expected_version` and returns the new version (expected + 1); it raises `VersionConflict` otherwise.
    `delete` removes the state and returns whether there was any.
    """

    @abc.abstractmethod
    async def get(self, key: str) -> tuple[dict[str, Any], int]: ...

    @abc.abstractmethod
    async def put(self, key: str, value: dict[str, Any], expected_version: int) -> int: ...

    @abc.abstractmethod
    async def delete(self, key: str) -> bool: ...


class BlobStore(abc.ABC):
    """Large payloads and archives, by name (``/``-separated).

    Contract: `put` writes (overwrites) durably and returns the size and SHA-256 of what was stored; `get`
    raises `NotFound` for a missing name; `delete` returns whether it existed; `list` returns the refs under a
    prefix sorted by name.
    """

    @abc.abstractmethod
    async def put(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> BlobRef: ...

    @abc.abstractmethod
    async def get(self, name: str) -> bytes: ...

    @abc.abstractmethod
    async def delete(self, name: str) -> bool: ...

    @abc.abstractmethod
    async def list(self, prefix: str = "") -> list[BlobRef]: ...


class Clock(abc.ABC):
    """Wall time for schedules and records. Tests substitute a manual clock."""

    @abc.abstractmethod
    def now(self) -> datetime: ...


class KeyStore(abc.ABC):
    """API keys at rest (hashes only).

    Contract: `add` stores a record (ids are unique; a duplicate id raises `Conflict`); `by_hash` returns the
    record whose `secret_hash` matches, revoked or not, or None; `revoke` stamps `revoked_at` (idempotent) and
    raises `NotFound` for an unknown id in that tenant; `list` returns the tenant's keys by creation time.
    """

    @abc.abstractmethod
    async def add(self, record: ApiKeyRecord) -> None: ...

    @abc.abstractmethod
    async def by_hash(self, secret_hash: str) -> ApiKeyRecord | None: ...

    @abc.abstractmethod
    async def revoke(self, tenant: str, key_id: str, when: datetime) -> ApiKeyRecord: ...

    @abc.abstractmethod
    async def list(self, tenant: str) -> list[ApiKeyRecord]: ...


class IdempotencyStore(abc.ABC):
    """Responses remembered per (scope, Idempotency-Key) so a retried system call answers the same.

    Contract: `get` returns the stored response or None. `put` stores it if absent and returns what is stored
    (the first writer wins).
    """

    @abc.abstractmethod
    async def get(self, scope: str, key: str) -> IdempotentResponse | None: ...

    @abc.abstractmethod
    async def put(self, scope: str, key: str, response: IdempotentResponse) -> IdempotentResponse: ...


@dataclass
class Stores:
    """One backend's set of adapters, as a host wires them into the kernel.

    `close` releases what the adapters hold (connections, threads); hosts call it once at shutdown.
    `context` is the ContextStore (see `ContextStore` below) when the backend provides one.
    """

    registry: AgentRegistry
    mailbox: Mailbox
    state: StateStore
    blobs: BlobStore
    keys: KeyStore
    idempotency: IdempotencyStore
    clock: Clock
    close: Callable[[], Awaitable[None]]
    context: Any = None
    #: `Governance` (audit, policies, usage, approvals), when the backend provides it.
    governance: Any = None


# ---------------------------------------------------------------- context (ContextMCPServer storage)

#: Payloads (a block value, an entry's text + data) larger than this go to the BlobStore behind a reference.
CONTEXT_INLINE_LIMIT = 64 * 1024


@dataclass(frozen=True)
class MemoryBlock:
    """A labelled memory block. `value` is text (`kind="text"`) or any JSON value (`kind="json"`).

    `size` is the byte length of the value as stored (UTF-8 text, or compact JSON); `limit` is the most it may
    hold. `etag` changes on every write and is never reused, so a stale etag can never match a recreated block.
    """

    label: str
    kind: str
    value: Any
    size: int
    limit: int
    version: int
    etag: str
    updated_at: datetime


@dataclass(frozen=True)
class NewEntry:
    """An entry to append. `id` None lets the store pick one; a caller-supplied id makes the append idempotent."""

    kind: str
    text: str = ""
    data: Any = None
    id: str | None = None
    ts: datetime | None = None


@dataclass(frozen=True)
class JournalEntry:
    """A journal entry as stored: `seq` is its position (increasing per agent, never reused)."""

    id: str
    seq: int
    ts: datetime
    kind: str
    text: str
    data: Any
    size: int


@dataclass(frozen=True)
class ContextStats:
    """The live (not yet compacted) size of an agent's context."""

    blocks: int
    block_bytes: int
    entries: int
    entry_bytes: int
    oldest_seq: int | None
    newest_seq: int | None


@dataclass(frozen=True)
class Appended:
    """What `append` stored (the stored entry for an id that already existed) and the stats after it."""

    entries: tuple[JournalEntry, ...]
    added: int
    stats: ContextStats


@dataclass(frozen=True)
class JournalPage:
    entries: tuple[JournalEntry, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class SearchHit:
    """`source` is "block" (ref = label) or "journal" (ref = entry id). Higher `score` ranks first."""

    source: str
    ref: str
    score: float
    snippet: str
    seq: int | None = None


@dataclass(frozen=True)
class ArchiveInfo:
    """A compaction archive: the folded entries `first_seq..last_seq`, as JSON in the BlobStore at `name`."""

    name: str
    first_seq: int
    last_seq: int
    entries: int
    bytes: int
    summary_id: str
    created_at: datetime


class ContextStore(abc.ABC):
    """An agent's context: memory blocks, an append-only journal, compaction archives. Keyed by agent key.

    Contract:
    - Blocks: `put_block(key, label, value, kind=, limit=, etag=, force=)` writes a block and returns it with a
      new etag. With `etag` None and `force` False the block must not exist (create); with an etag, the stored
      etag must match; `force=True` writes unconditionally. A mismatch raises `VersionConflict`. A value larger
      than `limit` (default: the stored block's limit, else `DEFAULT_BLOCK_LIMIT`) raises `PayloadTooLarge`
      and writes nothing. `get_block` raises `NotFound`; `delete_block(etag=)` returns whether it existed and
      raises `VersionConflict` on a stale etag. `list_blocks` returns blocks by label.
    - Journal: `append(key, entries)` stores the entries in order, durably on return, and returns them as
      stored. An entry whose id the agent already has (live, or folded into an archive) is not added again:
      the stored entry (or, once folded, a reconstruction without text) is returned and `added` does not count
      it. `page` walks live entries by `seq` (ascending, or `newest_first`) with an opaque cursor, filtered by
      `kinds` and by `since <= ts < until`.
    - `search(key, query, limit=, sources=)` finds blocks and live entries by keyword, best first; words are
      matched case-insensitively with stemming where the backend offers it, and a query's first 16 distinct
      words count (`context_common.search_terms`). It never raises on odd input: a query without words returns
      nothing. Its work does not grow with the journal: per word, only the word's newest `SEARCH_WINDOW`
      matches are looked at (entries in journal order, blocks in creation order); entries holding every word
      are found anywhere when one of the words has fewer matches than that, else only within the words'
      windows. Ranking (`context_common.rank`, shared by the adapters): a word weighs ln(1 + N/df) (N: entries
      and blocks; df: how many hold it, estimated from its window when the window is full); a hit scores the
      weights of the words whose window holds it, or all of them if it holds every word, so hits with every
      word come first. Ties: blocks, then the newest. Scores compare within one search only.
    - Compaction: `compact(key, through_seq, summary)` folds every live entry with `seq <= through_seq` into
      one summary entry placed at the last folded entry's position: the folded entries (full payloads) are
      first written as a JSON archive to the BlobStore, then removed from the live journal in one transaction
      with the summary inserted. It raises `VersionConflict` if the live entries changed underneath (another
      compaction won) and `ValidationFailed` if nothing is there to fold. `list_archives` / `read_archive`
      (raises `NotFound`) give back what was folded; nothing is ever dropped without an archive.
    - Payloads over `CONTEXT_INLINE_LIMIT` bytes are stored in the BlobStore behind a reference and read back
      transparently; searches index their first `CONTEXT_INLINE_LIMIT` bytes of text.
    - `purge(key)` deletes everything of the agent (blocks, entries, archives, payload blobs) and returns counts
      by kind: `{"blocks", "entries", "archives", "blobs"}`.
    """

    DEFAULT_BLOCK_LIMIT = 16 * 1024
    MAX_BLOCK_LIMIT = 1024 * 1024
    #: An entry's text + data JSON, in bytes: larger ones are refused (`PayloadTooLarge`).
    MAX_ENTRY_BYTES = 1024 * 1024
    #: How many of the newest matches of each query word (and of all the words together) a search looks at.
    SEARCH_WINDOW = 200

    @abc.abstractmethod
    async def list_blocks(self, key: str) -> list[MemoryBlock]: ...

    @abc.abstractmethod
    async def get_block(self, key: str, label: str) -> MemoryBlock: ...

    @abc.abstractmethod
    async def put_block(
        self,
        key: str,
        label: str,
        value: Any,
        *,
        kind: str = "text",
        limit: int | None = None,
        etag: str | None = None,
        force: bool = False,
    ) -> MemoryBlock: ...

    @abc.abstractmethod
    async def delete_block(self, key: str, label: str, *, etag: str | None = None) -> bool: ...

    @abc.abstractmethod
    async def append(self, key: str, entries: Sequence[NewEntry]) -> Appended: ...

    @abc.abstractmethod
    async def page(
        self,
        key: str,
        *,
        cursor: str | None = None,
        limit: int = 50,
        kinds: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        newest_first: bool = False,
    ) -> JournalPage: ...

    @abc.abstractmethod
    async def search(
        self, key: str, query: str, *, limit: int = 10, sources: Sequence[str] = ("block", "journal")
    ) -> list[SearchHit]: ...

    @abc.abstractmethod
    async def stats(self, key: str) -> ContextStats: ...

    @abc.abstractmethod
    async def compact(self, key: str, through_seq: int, summary: NewEntry) -> ArchiveInfo: ...

    @abc.abstractmethod
    async def list_archives(self, key: str) -> list[ArchiveInfo]: ...

    @abc.abstractmethod
    async def read_archive(self, key: str, name: str) -> list[JournalEntry]: ...

    @abc.abstractmethod
    async def purge(self, key: str) -> dict[str, int]: ...


# ---------------------------------------------------------------- event transport (ingress / egress brokers)


@dataclass(frozen=True)
class TransportMessage:
    """A message taken from a transport, locked for its receiver until settled or until the lock expires.

    `body` is the message as sent (for AOS: one CloudEvent in structured JSON mode); `receipt` is the
    transport's handle for settling it (a Service Bus lock token, a Storage Queue pop receipt), opaque to
    callers; `delivery_count` is 1 on the first delivery.
    """

    message_id: str
    body: bytes
    delivery_count: int
    properties: dict[str, Any]
    receipt: Any


class EventTransport(abc.ABC):
    """One broker channel carrying CloudEvents in or out of AOS (Service Bus topic/subscription, Storage Queue).

    Contract:
    - `send(events)` enqueues each event as one message: body = the CloudEvent in structured JSON mode, message
      id = `event.id`, trace context (`traceparent`) in the properties when there is one. Durable on return.
      Delivery is at least once: receivers dedupe on the event id (`Kernel.publish` does; Service Bus also
      drops a duplicate message id within its detection window).
    - `receive(max_messages, visibility_timeout)` returns up to `max_messages` messages (possibly none, after a
      bounded wait), each locked for `visibility_timeout` seconds: until it is settled or the lock expires no
      other receiver gets it; an expired lock makes it deliverable again with `delivery_count` + 1.
    - Settling: `complete` removes the message; `abandon` releases the lock so it is redelivered now;
      `dead_letter(reason)` moves it aside with the reason (Service Bus: the subscription's dead-letter queue;
      Storage Queue: the queue `<queue>-poison`), where operators find it. Settling a message whose lock was
      lost raises `Conflict` (it will be, or was, delivered again).
    - `close` releases connections; idempotent.
    """

    @abc.abstractmethod
    async def send(self, events: Sequence[Event]) -> None: ...

    @abc.abstractmethod
    async def receive(self, max_messages: int = 32, visibility_timeout: float = 30.0) -> list[TransportMessage]: ...

    @abc.abstractmethod
    async def complete(self, message: TransportMessage) -> None: ...

    @abc.abstractmethod
    async def abandon(self, message: TransportMessage) -> None: ...

    @abc.abstractmethod
    async def dead_letter(self, message: TransportMessage, reason: str) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class EventSink(abc.ABC):
    """Told about each event an agent sent (published with a sender), once the mailbox accepted it.

    Contract: `emitted` is called after the event is durably accepted, and again for a duplicate of it (a
    retried step re-publishes the same event id), so a sink sees every emission at least once and must be
    idempotent on the event id. If it raises, the publish raises: a step is retried, and an API caller
    retries with the same id, so an emission is not lost between the mailbox and the sink.
    """

    @abc.abstractmethod
    async def emitted(self, tenant: str, event: Event) -> None: ...


# ---------------------------------------------------------------- governance (policy, audit, usage, approvals)


@dataclass(frozen=True)
class AuditEntry:
    """An audit record before it is chained: the store assigns `seq`, `prev` and `hash`.

    `kind`: call (system call), step (a decision), effect (denied/held), approval, lifecycle, key, budget.
    """

    ts: str
    kind: str
    action: str
    actor: str = ""
    agent_id: str | None = None
    outcome: str = ""
    details: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        return {"ts": self.ts, "kind": self.kind, "action": self.action, "actor": self.actor,
                "agent_id": self.agent_id, "outcome": self.outcome, "details": self.details or {}}


class AuditLog(abc.ABC):
    """Each tenant's append-only audit log, a hash chain (`aos.governance_model.chain_record`).

    Contract:
    - `append(tenant, entries)` stores the entries in order as records `seq` = last + 1, ... (the first record of
      a tenant has seq 1 and `prev` = `GENESIS`), each with `prev` = the hash of the record before it, atomically
      and durably on return, and returns them. Concurrent appends to one tenant never fork the chain: the store
      serializes them (SQLite: the single writer; Cosmos: a compare-and-set on the tenant's head document).
    - `head(tenant)` returns `(seq, hash)` of the last record, `(0, GENESIS)` for none. It is kept beside the
      records, so truncating the log's tail is detectable.
    - `page(tenant, before, limit, kind, action_prefix, agent_id)` returns records newest first; `before` is a seq.
    - `scan(tenant, after, limit)` returns records by seq ascending, for verification; rows are returned as
      stored (a tampered row is returned tampered, never "repaired").
    """

    @abc.abstractmethod
    async def append(self, tenant: str, entries: Sequence[AuditEntry]) -> list[AuditRecord]: ...

    @abc.abstractmethod
    async def head(self, tenant: str) -> tuple[int, str]: ...

    @abc.abstractmethod
    async def page(
        self, tenant: str, *, before: int | None = None, limit: int = 50, kind: str | None = None,
        action_prefix: str | None = None, agent_id: str | None = None,
    ) -> list[AuditRecord]: ...

    @abc.abstractmethod
    async def scan(self, tenant: str, *, after: int = 0, limit: int = 1000) -> list[AuditRecord]: ...


class PolicyStore(abc.ABC):
    """Named, versioned policy documents per tenant (`aos.governance_model.PolicyRecord`).

    Contract: `put(record, expected_version)` stores `record` as the next version (1 for a new name, else the
    latest + 1; the returned record carries it); with `expected_version` set, a different latest version raises
    `VersionConflict`. Every version is kept: `get(tenant, name, version=None)` returns the latest (or the given)
    version and raises `NotFound`; a deleted policy's latest version has `deleted=True`, and `get` without a
    version raises `NotFound` for it. `delete` stores a tombstone version and returns whether the policy was live.
    `list(tenant)` returns the latest live version of each policy by name; `versions` returns every version of a
    name, oldest first. `stamp(tenant)` changes whenever any policy of the tenant changes (cache validation).
    """

    @abc.abstractmethod
    async def put(self, record: PolicyRecord, expected_version: int | None = None) -> PolicyRecord: ...

    @abc.abstractmethod
    async def get(self, tenant: str, name: str, version: int | None = None) -> PolicyRecord: ...

    @abc.abstractmethod
    async def delete(self, tenant: str, name: str, when: datetime, by: str = "") -> bool: ...

    @abc.abstractmethod
    async def list(self, tenant: str) -> list[PolicyRecord]: ...

    @abc.abstractmethod
    async def versions(self, tenant: str, name: str) -> builtins.list[PolicyRecord]: ...

    @abc.abstractmethod
    async def stamp(self, tenant: str) -> int: ...


class UsageCounter(abc.ABC):
    """Durable usage counters in one-minute buckets, per agent and per tenant.

    Contract: `add(tenant, agent_id, deltas, at)` adds each metric's delta to the minute bucket of `at` for the
    agent and for the tenant total, atomically and durably on return. `totals(tenant, agent_id, since)` sums the
    buckets starting at or after `since` (floored to the minute) for the agent, or for the tenant total when
    `agent_id` is None; metrics never counted are 0. `prune(before)` drops buckets older than `before`.
    """

    @abc.abstractmethod
    async def add(self, tenant: str, agent_id: str, deltas: dict[str, int], at: datetime) -> None: ...

    @abc.abstractmethod
    async def totals(self, tenant: str, agent_id: str | None, since: datetime) -> dict[str, int]: ...

    @abc.abstractmethod
    async def prune(self, before: datetime) -> int: ...


class ApprovalStore(abc.ABC):
    """Parked effects awaiting a human (`aos.governance_model.Approval`).

    Contract: `park(approval)` stores it if its id is new and returns what is stored (the first one wins, so
    a retried step parks once). `get` raises `NotFound`. `decide(tenant, id, status, by, note, at)` moves a
    pending approval to approved/rejected and returns it; deciding one already decided raises `Conflict`
    (naming its status). `mark_applied` sets `applied`. `list(tenant, status)` returns newest first. `due(now)`
    returns pending approvals of any tenant whose `expires_at` ≤ now.
    """

    @abc.abstractmethod
    async def park(self, approval: Approval) -> Approval: ...

    @abc.abstractmethod
    async def get(self, tenant: str, approval_id: str) -> Approval: ...

    @abc.abstractmethod
    async def decide(self, tenant: str, approval_id: str, status: str, by: str, note: str | None,
                     at: datetime) -> Approval: ...

    @abc.abstractmethod
    async def mark_applied(self, tenant: str, approval_id: str) -> None: ...

    @abc.abstractmethod
    async def list(self, tenant: str, *, status: str | None = None, limit: int = 100) -> list[Approval]: ...

    @abc.abstractmethod
    async def due(self, now: datetime, limit: int = 100) -> builtins.list[Approval]: ...


@dataclass
class Governance:
    """The governance stores of one backend (all four, or none: the kernel then governs nothing)."""

    audit: AuditLog
    policies: PolicyStore
    usage: UsageCounter
    approvals: ApprovalStore
