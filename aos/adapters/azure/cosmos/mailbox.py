"""`Mailbox` on Cosmos DB, container `runtime` (partition key `/agentKey`). Layout: `keys.py`.

Per agent key (one partition): a *mailbox item* per event (`m-{sha256(event id)}`, the event, its tenant log
position, status `pending` → `done`/`failed`) and a *step item* per step (`s-{seq:012d}`: the claimed event ids,
status, journaled decision, attempts). Per tenant (partition `{tenant}/~events`): the *log item* per accepted
event id (`ev-{sha256(event id)}`, the dedupe record) and a position counter (`~counter`, atomically incremented
with a patch).

Why a step needs one write: a step is claimed only when the key has no unfinished step, so every pending item is
claimable; the step item (created with its deterministic id, a 409 if another claimant won) *is* the claim.
Items stay `pending` until the step finishes, which is exactly what `pending` and `keys_with_work` must count.
A step claims at most 99 events (a transactional batch holds 100 operations; finishing a step writes its items
and the step in one batch). `begin_step` reads the newest step first: only it can be unfinished.

`deliver` spans partitions (each key's mailbox, the tenant log), which no Cosmos transaction covers. It writes
in an order that makes a retry complete a partial delivery and makes nothing accepted get lost:
1. the dedupe record is read: present → `duplicate=True`, nothing written;
2. a log position is taken from the tenant counter (a crash here leaves a gap in positions, nothing else);
3. each key's mailbox item is created with its deterministic id (409 = already there: a no-op, so an event is
   appended to a key at most once for as long as the key's items live, even after it was processed);
4. the log item is created last: it is the commit marker. `deliver` returns only after it is durable.
Guarantee: when `deliver` returns, the event is in every key's mailbox and in the log. If it raises, some keys
may already hold the event (they will process it) and the log does not; the caller retries the publish with the
same event id (the kernel's callers do: HTTP clients get a 503, Service Bus redelivers), which writes the
missing items and the marker. Concurrent deliveries of one id: one creates the marker, the other gets 409 and
reports a duplicate. What is weaker than SQLite: between steps 3 and 4 an agent can already see the event, and
a publish abandoned after a failure leaves those deliveries without a log entry.

Finishing a step (`complete_step` / `fail_step`) is one transactional batch on real Cosmos (items + step). With
the emulator (no batch) the items are patched first and the step last, so a crash in between leaves the step
unfinished: `begin_step` hands it back, and finishing it again is idempotent.

Positions are per tenant (the log is only ever read per tenant), and claims are ordered by them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aos.adapters.azure.cosmos import keys as K
from aos.adapters.azure.cosmos.ops import BATCH_LIMIT, Cosmos, Exists, Missing, Stale
from aos.adapters.embedded.common import check_limit
from aos.errors import Conflict, NotFound, VersionConflict
from aos.model import Decision, Event, StepRecord, StepStatus
from aos.ports import AcceptedEvent, Claim, Clock, Delivery, Mailbox

RUNTIME = K.RUNTIME
MAX_CLAIM = BATCH_LIMIT - 1
_OPEN = (StepStatus.CLAIMED.value, StepStatus.DECIDED.value)


class CosmosMailbox(Mailbox):
    def __init__(self, cosmos: Cosmos, clock: Clock) -> None:
        self._db = cosmos
        self._clock = clock

    # ------------------------------------------------------------ deliver

    async def deliver(self, tenant: str, event: Event, keys: Sequence[str]) -> Delivery:
        log_pk, log_id = K.events_pk(tenant), K.log_id(event.id)
        seen = await self._db.read(RUNTIME, log_id, log_pk)
        if seen is not None:
            return Delivery(duplicate=True, agent_keys=tuple(seen["deliveredTo"]))
        targets = tuple(dict.fromkeys(keys))
        pos = await self._next_pos(log_pk)
        body = event.model_dump(mode="json")
        for key in targets:
            item = {"id": K.msg_id(event.id), "agentKey": key, "kind": "msg", "eid": event.id, "pos": pos,
                    "status": "pending", "event": body}
            try:
                await self._db.create(RUNTIME, item)
            except Exists:
                pass  # already appended to this key (an earlier, partial delivery, or another tenant's)
        marker = {"id": log_id, "agentKey": log_pk, "kind": "log", "eid": event.id, "etype": event.type,
                  "pos": pos, "event": body, "deliveredTo": list(targets),
                  "acceptedAt": self._clock.now().isoformat()}
        try:
            await self._db.create(RUNTIME, marker)
        except Exists:
            won = await self._db.read(RUNTIME, log_id, log_pk)
            return Delivery(duplicate=True, agent_keys=tuple(won["deliveredTo"]) if won else targets)
        return Delivery(duplicate=False, agent_keys=targets)

    async def _next_pos(self, pk: str) -> int:
        """Atomic increment with a patch (one round trip); the counter is created on first use."""
        for _ in range(3):
            try:
                doc = await self._db.patch(RUNTIME, "~counter", pk, [{"op": "incr", "path": "/next", "value": 1}])
                return int(doc["next"])
            except Missing:
                try:
                    await self._db.create(RUNTIME, {"id": "~counter", "agentKey": pk, "kind": "counter", "next": 1})
                    return 1
                except Exists:
                    continue  # created concurrently: increment it
        raise VersionConflict(f"log position counter of '{pk}' could not be taken; retry")

    # ------------------------------------------------------------ steps

    async def begin_step(self, key: str, agent_id: str, max_events: int) -> Claim | None:
        check_limit(max_events, "max_events")
        latest = await self._latest_step(key)
        if latest is not None and latest["status"] in _OPEN:
            latest["attempts"] += 1
            try:
                await self._db.replace(RUNTIME, _clean(latest), latest["_etag"])
            except (Stale, Missing):
                raise VersionConflict(
                    f"step {latest['seq']} of '{key}' changed underneath: another process is running this agent"
                ) from None
            return await self._claim(key, latest)
        sql = ("SELECT TOP @n c.eid FROM c WHERE c.agentKey = @pk AND c.kind = 'msg' AND c.status = 'pending' "
               "ORDER BY c.pos")
        pending = await self._db.query(RUNTIME, sql, {"@pk": key, "@n": min(max_events, MAX_CLAIM)}, key)
        if not pending:
            return None
        seq = latest["seq"] + 1 if latest else 1
        step = {"id": K.step_id(seq), "agentKey": key, "kind": "step", "seq": seq, "agentId": agent_id,
                "status": StepStatus.CLAIMED.value, "eventIds": [p["eid"] for p in pending], "decision": None,
                "attempts": 1, "error": None, "startedAt": self._clock.now().isoformat(), "finishedAt": None}
        try:
            await self._db.create(RUNTIME, step)
        except Exists:
            raise VersionConflict(f"step {seq} of '{key}' was claimed by another process") from None
        return await self._claim(key, step)

    async def _latest_step(self, key: str) -> dict[str, Any] | None:
        sql = "SELECT TOP 1 * FROM c WHERE c.agentKey = @pk AND c.kind = 'step' ORDER BY c.seq DESC"
        found = await self._db.query(RUNTIME, sql, {"@pk": key}, key)
        return found[0] if found else None

    async def _claim(self, key: str, step: dict[str, Any]) -> Claim:
        events = await self._events(key, step["eventIds"])
        decision = Decision.model_validate(step["decision"]) if step["decision"] else None
        return Claim(seq=step["seq"], events=events, decision=decision, attempts=step["attempts"])

    async def _events(self, key: str, event_ids: list[str]) -> list[Event]:
        if not event_ids:
            return []
        sql = "SELECT c.eid, c.event FROM c WHERE c.agentKey = @pk AND c.kind = 'msg' AND ARRAY_CONTAINS(@ids, c.eid)"
        rows = await self._db.query(RUNTIME, sql, {"@pk": key, "@ids": event_ids}, key)
        by_id = {r["eid"]: Event.model_validate(r["event"]) for r in rows}
        return [by_id[i] for i in event_ids if i in by_id]

    async def _step(self, key: str, seq: int) -> dict[str, Any]:
        doc = await self._db.read(RUNTIME, K.step_id(seq), key)
        if doc is None:
            raise NotFound(f"step {seq} of '{key}' does not exist (never begun, or purged)", key=key, seq=seq)
        return doc

    async def record_decision(self, key: str, seq: int, decision: Decision) -> Decision:
        for _ in range(3):
            step = await self._step(key, seq)
            if step["decision"] is not None:
                return Decision.model_validate(step["decision"])
            if step["status"] not in _OPEN:
                raise Conflict(f"step {seq} of '{key}' is {step['status']}: a finished step takes no decision")
            step["decision"], step["status"] = decision.model_dump(mode="json"), StepStatus.DECIDED.value
            try:
                await self._db.replace(RUNTIME, _clean(step), step["_etag"])
            except Stale:
                continue  # someone wrote the step first: the first decision wins, re-read it
            return Decision.model_validate(step["decision"])
        raise VersionConflict(f"step {seq} of '{key}' kept changing while journaling its decision; retry")

    async def complete_step(self, key: str, seq: int) -> None:
        await self._finish(key, seq, StepStatus.DONE, None)

    async def fail_step(self, key: str, seq: int, error: str) -> None:
        await self._finish(key, seq, StepStatus.FAILED, error)

    async def _finish(self, key: str, seq: int, to: StepStatus, error: str | None) -> None:
        step = await self._step(key, seq)
        if step["status"] == to.value:
            return
        if step["status"] not in _OPEN:
            raise Conflict(f"step {seq} of '{key}' is already {step['status']}; it cannot become {to.value}")
        etag = step["_etag"]
        step.update(status=to.value, error=error, finishedAt=self._clock.now().isoformat())
        set_status = [{"op": "set", "path": "/status", "value": to.value}]
        item_ids = [K.msg_id(eid) for eid in step["eventIds"]]
        try:
            if self._db.supports_batch:
                ops: list[tuple[Any, ...]] = [("patch", (i, set_status)) for i in item_ids]
                ops.append(("replace", (step["id"], _clean(step)), {"if_match_etag": etag}))
                await self._db.batch(RUNTIME, key, ops)
                return
            for item_id in item_ids:  # fallback: items first, the step (the commit marker) last
                try:
                    await self._db.patch(RUNTIME, item_id, key, set_status)
                except Missing:
                    pass
            await self._db.replace(RUNTIME, _clean(step), etag)
        except (Stale, Missing):
            raise VersionConflict(f"step {seq} of '{key}' changed while finishing; re-read it") from None

    # ------------------------------------------------------------ reading

    async def pending(self, key: str) -> int:
        sql = "SELECT VALUE COUNT(1) FROM c WHERE c.agentKey = @pk AND c.kind = 'msg' AND c.status = 'pending'"
        return int(sum(await self._db.query(RUNTIME, sql, {"@pk": key}, key)))

    async def keys_with_work(self, limit: int = 1000) -> list[str]:
        check_limit(limit)
        distinct = "DISTINCT " if self._db.supports_distinct else ""
        sql = f"SELECT {distinct}VALUE c.agentKey FROM c WHERE c.kind = 'msg' AND c.status = 'pending'"
        keys = set(await self._db.query(RUNTIME, sql, {}, None))
        return sorted(keys)[:limit]

    async def steps(self, key: str, *, limit: int = 20, before: int | None = None) -> list[StepRecord]:
        check_limit(limit)
        params: dict[str, Any] = {"@pk": key, "@n": limit}
        cond = ""
        if before is not None:
            cond, params["@before"] = " AND c.seq < @before", before
        sql = f"SELECT TOP @n * FROM c WHERE c.agentKey = @pk AND c.kind = 'step'{cond} ORDER BY c.seq DESC"
        docs = await self._db.query(RUNTIME, sql, params, key)
        events = {e.id: e for e in await self._events(key, [i for d in docs for i in d["eventIds"]])}
        return [_record(d, events) for d in docs]

    async def purge(self, key: str) -> int:
        sql = "SELECT c.id, c.kind FROM c WHERE c.agentKey = @pk"
        docs = await self._db.query(RUNTIME, sql, {"@pk": key}, key)
        removed = [d for d in docs if d["kind"] in ("msg", "step")]
        await delete_all(self._db, RUNTIME, key, [d["id"] for d in docs])
        return len(removed)

    async def events(
        self, tenant: str, *, limit: int = 50, before: int | None = None, type_prefix: str | None = None
    ) -> list[AcceptedEvent]:
        check_limit(limit)
        pk = K.events_pk(tenant)
        params: dict[str, Any] = {"@pk": pk, "@n": limit}
        where = ["c.agentKey = @pk", "c.kind = 'log'"]
        if before is not None:
            where.append("c.pos < @before")
            params["@before"] = before
        if type_prefix:
            where.append("STARTSWITH(c.etype, @prefix)")
            params["@prefix"] = type_prefix
        sql = f"SELECT TOP @n * FROM c WHERE {' AND '.join(where)} ORDER BY c.pos DESC"
        return [
            AcceptedEvent(
                pos=d["pos"],
                event=Event.model_validate(d["event"]),
                delivered_to=tuple(d["deliveredTo"]),
                accepted_at=datetime.fromisoformat(d["acceptedAt"]),
            )
            for d in await self._db.query(RUNTIME, sql, params, pk)
        ]


async def delete_all(db: Cosmos, container: str, pk: str, ids: list[str]) -> None:
    """Delete items of one partition: in transactional batches of 100 where Cosmos has them, else one by one.
    Idempotent (an item already gone is skipped)."""
    if db.supports_batch:
        for i in range(0, len(ids), BATCH_LIMIT):
            chunk = ids[i : i + BATCH_LIMIT]
            try:
                await db.batch(container, pk, [("delete", (item_id,)) for item_id in chunk])
            except Missing:  # one was deleted concurrently: finish this chunk one by one
                for item_id in chunk:
                    await db.delete(container, item_id, pk)
        return
    for item_id in ids:
        await db.delete(container, item_id, pk)


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _record(doc: dict[str, Any], events: dict[str, Event]) -> StepRecord:
    return StepRecord(
        agent_id=doc["agentId"],
        seq=doc["seq"],
        status=StepStatus(doc["status"]),
        events=[events[i] for i in doc["eventIds"] if i in events],
        decision=Decision.model_validate(doc["decision"]) if doc["decision"] else None,
        error=doc["error"],
        attempts=doc["attempts"],
        started_at=datetime.fromisoformat(doc["startedAt"]),
        finished_at=datetime.fromisoformat(doc["finishedAt"]) if doc["finishedAt"] else None,
    )
