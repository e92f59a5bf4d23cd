"""The kernel: every system call and every effect goes through here.

It owns no threads and no loops: hosts (the embedded runtime, the Functions app) call `publish` when events
arrive, get told through their `Notifier` which agents have mail, and call `run_step` for them. Everything the
kernel knows lives in the ports, so any host instance can serve any call.
"""

from __future__ import annotations

import builtins
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aos.brains.base import Brain, BrainFactory
from aos.errors import AgentNotFound, Conflict, VersionConflict
from aos.kernel.context import ContextProvider
from aos.kernel.effects import undeliverable_event
from aos.kernel.lifecycle import RECEIVING, next_state
from aos.kernel.notify import NoNotifier, Notifier
from aos.kernel.policy.governor import Governor
from aos.kernel.router import wants
from aos.kernel.scheduler import next_wake, timer_event
from aos.model import AgentRecord, AgentSpec, AgentState, Event, StepRecord, agent_key
from aos.ports import AcceptedEvent, Delivery, Stores

log = logging.getLogger("aos.kernel")

#: Called at named points of a step ("decided", "applied"); tests raise from it to simulate a crash.
FaultHook = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Published:
    event_id: str
    duplicate: bool
    delivered_to: tuple[str, ...]


@dataclass(frozen=True)
class StepOutcome:
    agent_id: str
    seq: int
    status: str  # "done" | "failed"
    events: int
    effects: int
    attempts: int
    error: str | None = None
    #: False when the step emptied the mailbox (a fresh claim smaller than a full batch): the host need not run
    #: the agent again until new mail notifies it. True when more may be waiting (full batch, retry, failure).
    more: bool = True


@dataclass
class KernelOptions:
    max_attempts: int = 5
    max_consecutive_failures: int = 3
    brain_cache_size: int = 4096
    route_cache_size: int = 4096
    #: Cache agent records and routes in this process. Only safe where this kernel is the registry's only
    #: writer (the embedded host); hosts with several instances (Functions) must leave it off.
    record_cache_size: int = 0


def split_key(key: str) -> tuple[str, str]:
    tenant, _, agent_id = key.partition("/")
    return tenant, agent_id


class Kernel:
    def __init__(
        self,
        stores: Stores,
        brains: BrainFactory,
        *,
        context: ContextProvider | None = None,
        notifier: Notifier | None = None,
        options: KernelOptions | None = None,
    ) -> None:
        self.stores = stores
        self.brains = brains
        self.context = context
        self.notifier: Notifier = notifier if notifier is not None else NoNotifier()
        self.options = options if options is not None else KernelOptions()
        self.fault: FaultHook | None = None
        #: Wake the receivers before the delivery is queued, not once it is committed: only where the claim their
        #: step queues is bound to see the delivery (`Mailbox.accepts_in_order`, `Notifier.in_process`). Then the
        #: delivery and the claim share one group commit, where each took one (bench/wakes.py); the step's events
        #: still reach its brain only once committed, since the claim returns after the commit that holds both.
        #: A duplicate event wakes its receivers for nothing: their claim finds no new mail.
        self._wake_first = stores.mailbox.accepts_in_order and self.notifier.in_process
        self.running: set[str] = set()
        self._brain_cache: OrderedDict[tuple[str, int], Brain] = OrderedDict()
        self._route_cache: OrderedDict[tuple[str, str], list[AgentRecord]] = OrderedDict()
        self._records: OrderedDict[str, AgentRecord] = OrderedDict()
        self.governance: Governor | None = None
        if stores.governance is not None:  # a sole writer invalidates its policy cache itself; others poll
            self.governance = Governor(self, stores.governance,
                                       cache_s=None if self.options.record_cache_size else 5.0)

    # ------------------------------------------------------------ lifecycle

    async def register(self, tenant: str, spec: AgentSpec) -> AgentRecord:
        """Create the agent, provision its context, activate it. On any failure nothing is left behind."""
        self.brains.check(spec)
        await self.brains.verify(spec)  # e.g. its secret references exist (an outage does not refuse)
        now = self.stores.clock.now()
        record = await self.stores.registry.create(
            AgentRecord(tenant=tenant, spec=spec, created_at=now, updated_at=now)
        )
        self._route_cache.clear()
        try:
            if self.context is not None:
                await self.context.provision(tenant, spec.id, spec.purpose)
            return await self._transition(record, "activate", next_wake_at=next_wake(spec.schedule, now))
        except BaseException:
            await self.stores.registry.delete(tenant, spec.id)
            if self.context is not None:
                await self.context.purge(tenant, spec.id)
            self._forget(agent_key(tenant, spec.id))
            raise

    async def get(self, tenant: str, agent_id: str) -> AgentRecord:
        cached = self._records.get(agent_key(tenant, agent_id))
        if cached is not None:
            self._records.move_to_end(cached.key)
            return cached
        return self._remember(await self.stores.registry.get(tenant, agent_id))

    def _remember(self, record: AgentRecord) -> AgentRecord:
        if self.options.record_cache_size:
            self._records[record.key] = record
            self._records.move_to_end(record.key)
            if len(self._records) > self.options.record_cache_size:
                self._records.popitem(last=False)
        return record

    def _forget(self, key: str) -> None:
        self._records.pop(key, None)
        self._route_cache.clear()

    async def list(self, tenant: str, **filters: Any) -> tuple[list[AgentRecord], str | None]:
        return await self.stores.registry.list(tenant, **filters)

    async def suspend(self, tenant: str, agent_id: str) -> AgentRecord:
        return await self._transition(await self.get(tenant, agent_id), "suspend")

    async def resume(self, tenant: str, agent_id: str) -> AgentRecord:
        """Back to active; mail that arrived meanwhile is processed now."""
        record = await self.get(tenant, agent_id)
        now = self.stores.clock.now()
        record = await self._transition(
            record, "resume", failures=0, failure=None, next_wake_at=next_wake(record.spec.schedule, now),
            restarts=record.restarts + (1 if record.state is AgentState.FAILED else 0),
        )
        if await self.stores.mailbox.pending(record.key):
            await self.notifier.notify(record.key)
        return record

    async def retire(self, tenant: str, agent_id: str, *, purge: bool = False) -> dict[str, Any]:
        """Retire (keep records and context, id stays taken) or purge (remove everything, say what went).

        Purge marks the agent retired first, so a crash half-way leaves a retired agent whose purge can be
        repeated, never a half-deleted active one."""
        record = await self.get(tenant, agent_id)
        if record.state is not AgentState.RETIRED:
            record = await self._transition(record, "retire", next_wake_at=None)
        elif not purge:
            raise Conflict(f"agent '{agent_id}' is already retired; DELETE with ?purge=true removes it",
                           agent_id=agent_id)
        if not purge:
            return {"agent": agent_id, "state": record.state.value, "purged": False}
        removed: dict[str, Any] = {"mailbox_rows": await self.stores.mailbox.purge(record.key)}
        removed["state"] = int(await self.stores.state.delete(record.key))
        if self.context is not None:
            removed["context"] = await self.context.purge(tenant, agent_id)
        await self.stores.registry.delete(tenant, agent_id)
        self._forget(record.key)
        await self._audit_lifecycle(record, "purge", record.state.value, removed=removed)
        await self.notifier.lifecycle(record.key, "purged")
        return {"agent": agent_id, "state": "purged", "purged": True, "removed": removed}

    async def _transition(self, record: AgentRecord, action: str, **changes: Any) -> AgentRecord:
        new_state = next_state(record.id, record.state, action)
        updated = record.model_copy(update={"state": new_state, "updated_at": self.stores.clock.now(), **changes})
        try:
            stored = await self.stores.registry.update(updated)
        except VersionConflict:
            self._forget(record.key)
            fresh = await self.get(record.tenant, record.id)
            stored = await self.stores.registry.update(
                fresh.model_copy(update={"state": next_state(fresh.id, fresh.state, action),
                                         "updated_at": self.stores.clock.now(), **changes})
            )
        self._route_cache.clear()
        self._remember(stored)
        log.info("agent %s: %s → %s", record.key, record.state.value, stored.state.value)
        await self._audit_lifecycle(stored, action, record.state.value)
        await self.notifier.lifecycle(stored.key, stored.state.value)
        return stored

    async def _audit_lifecycle(self, record: AgentRecord, action: str, before: str, **details: Any) -> None:
        if self.governance is not None:
            outcome = "purged" if action == "purge" else record.state.value
            await self.governance.record(record.tenant, [self.governance.entry(
                "lifecycle", f"agent.{action}", actor="kernel", agent_id=record.id, outcome=outcome,
                before=before, failure=record.failure, **details)])

    # ------------------------------------------------------------ events

    async def publish(self, tenant: str, event: Event, *, sender: str | None = None) -> Published:
        """Route and durably accept an event. Idempotent on `event.id` within the tenant.

        The explicit target (extension `aostarget`) must exist and not be retired; subscribers are matched
        by type, source and subject. An agent's own emissions do not wake itself unless it is the target."""
        (published,) = await self._accept(tenant, [(event, await self._receivers(tenant, event, sender))])
        return published

    async def publish_many(self, tenant: str, events: Sequence[Event], *, sender: str | None = None
                           ) -> builtins.list[Published]:
        """`publish` for each event, in order, with every event routed before any is accepted (an unknown or
        non-receiving target raises and nothing is accepted), then all accepted in one `deliver_many`: one
        transaction on the embedded store, so all of them or none."""
        return await self._accept(tenant, [(event, await self._receivers(tenant, event, sender)) for event in events])

    async def publish_effects(self, record: AgentRecord, events: Sequence[Event]) -> builtins.list[Published]:
        """The events one step of `record` emits, in order, accepted in one `deliver_many` (one transaction on
        the embedded store, where they used to take a commit each). An event whose target is unknown or
        retired is replaced by an `aos.undeliverable` notice to the sender: nothing is dropped silently."""
        items: list[tuple[Event, dict[str, AgentRecord]]] = []
        for event in events:
            try:
                items.append((event, await self._receivers(record.tenant, event, record.id)))
            except (AgentNotFound, Conflict) as e:
                notice = undeliverable_event(record, event, e.detail)
                items.append((notice, await self._receivers(record.tenant, notice, None)))
        return await self._accept(record.tenant, items)

    async def _accept(self, tenant: str, items: builtins.list[tuple[Event, dict[str, AgentRecord]]]
                      ) -> builtins.list[Published]:
        """Routed events (each with its receivers) into one `deliver_many`, their receivers woken. `publish`
        comes here too, with one event."""
        if self._wake_first:
            for _, receivers in items:
                await self._wake(receivers)
        deliveries = await self.stores.mailbox.deliver_many(
            tenant, [(event, list(receivers)) for event, receivers in items])
        return [await self._delivered(event, receivers, delivery)
                for (event, receivers), delivery in zip(items, deliveries, strict=True)]

    async def _receivers(self, tenant: str, event: Event, sender: str | None) -> dict[str, AgentRecord]:
        receivers: dict[str, AgentRecord] = {}
        if event.target:
            target = await self.get(tenant, event.target)
            if target.state not in RECEIVING:
                raise Conflict(f"agent '{target.id}' is {target.state.value} and receives no events",
                               agent_id=target.id)
            receivers[target.key] = target
        for record in await self._subscribers(tenant, event.type):
            if record.state in RECEIVING and record.id != sender and wants(record.spec, event):
                receivers.setdefault(record.key, record)
        return receivers

    async def _wake(self, receivers: dict[str, AgentRecord]) -> None:
        for key, record in receivers.items():
            if record.state is AgentState.ACTIVE:
                await self.notifier.notify(key)

    async def _delivered(self, event: Event, receivers: dict[str, AgentRecord], delivery: Delivery) -> Published:
        if not delivery.duplicate and not self._wake_first:
            await self._wake(receivers)
        names = tuple(split_key(k)[1] for k in (delivery.agent_keys or tuple(receivers)))
        return Published(event_id=event.id, duplicate=delivery.duplicate, delivered_to=names)

    async def _subscribers(self, tenant: str, event_type: str) -> builtins.list[AgentRecord]:
        cache_key = (tenant, event_type)
        cached = self._route_cache.get(cache_key)
        if cached is not None:
            self._route_cache.move_to_end(cache_key)
            return cached
        found = await self.stores.registry.subscribers(tenant, event_type)
        self._route_cache[cache_key] = found
        if len(self._route_cache) > self.options.route_cache_size:
            self._route_cache.popitem(last=False)
        return found

    async def events(self, tenant: str, **filters: Any) -> builtins.list[AcceptedEvent]:
        return await self.stores.mailbox.events(tenant, **filters)

    async def steps(self, tenant: str, agent_id: str, *, limit: int = 20, before: int | None = None
                    ) -> builtins.list[StepRecord]:
        await self.get(tenant, agent_id)
        return await self.stores.mailbox.steps(agent_key(tenant, agent_id), limit=limit, before=before)

    async def agent_state(self, tenant: str, agent_id: str) -> tuple[dict[str, Any], int]:
        await self.get(tenant, agent_id)
        return await self.stores.state.get(agent_key(tenant, agent_id))

    # ------------------------------------------------------------ steps and timers

    async def run_step(self, key: str) -> StepOutcome | None:
        """One step of one agent; None when it is not active or has no mail. Callers serialize per key."""
        from aos.kernel.step import run_step

        outcome: StepOutcome | None = await run_step(self, key)
        return outcome

    def brain_for(self, record: AgentRecord) -> Brain:
        cache_key = (record.key, record.version if record.version else 0)
        brain = self._brain_cache.get(cache_key)
        if brain is None:
            brain = self.brains.build(record.spec)
            self._brain_cache[cache_key] = brain
            if len(self._brain_cache) > self.options.brain_cache_size:
                self._brain_cache.popitem(last=False)
        return brain

    async def tick(self, now: datetime | None = None, limit: int = 500) -> builtins.list[str]:
        """Deliver due cron wakes and advance each agent's `next_wake_at`. Returns the woken agent keys.

        Publish first, then advance: a crash in between re-publishes the same timer event id on the next
        tick, which the dedupe turns into a no-op, so a wake is neither skipped nor doubled."""
        now = now or self.stores.clock.now()
        woken: list[str] = []
        for record in await self.stores.registry.due(now, limit):
            assert record.next_wake_at is not None
            await self.publish(record.tenant, timer_event(record, record.next_wake_at, now))
            try:
                self._remember(await self.stores.registry.update(
                    record.model_copy(update={"next_wake_at": next_wake(record.spec.schedule, now)})
                ))
            except (VersionConflict, AgentNotFound):
                self._forget(record.key)
                log.info("agent %s changed during its timer; the next tick re-reads it", record.key)
            woken.append(record.key)
        if self.governance is not None:
            await self.governance.tick()
        return woken

    async def sweep(self, limit: int = 1000) -> builtins.list[str]:
        """Re-notify active agents whose mailbox has work (lost notifications, crashed steps): invariant 1."""
        renotified: list[str] = []
        for key in await self.stores.mailbox.keys_with_work(limit):
            if key in self.running:
                continue
            tenant, agent_id = split_key(key)
            try:
                record = await self.get(tenant, agent_id)
            except AgentNotFound:
                continue
            if record.state is AgentState.ACTIVE:
                await self.notifier.notify(key)
                renotified.append(key)
        return renotified

    async def fail_agent(self, record: AgentRecord, reason: str) -> AgentRecord:
        return await self._transition(record, "fail", failure=reason)

    async def note_step_result(self, record: AgentRecord, error: str | None) -> None:
        """Track consecutive failures; an agent failing `max_consecutive_failures` steps in a row is failed."""
        if error is None:
            if record.failures:
                await self._save(record, failures=0, failure=None)
            return
        failures = record.failures + 1
        if failures >= self.options.max_consecutive_failures:
            await self._transition(record, "fail", failures=failures,
                                   failure=f"{failures} consecutive failed steps; last: {error}")
        else:
            await self._save(record, failures=failures, failure=error)

    async def _save(self, record: AgentRecord, **changes: Any) -> None:
        try:
            self._remember(await self.stores.registry.update(record.model_copy(update=changes)))
        except VersionConflict:
            self._forget(record.key)
            fresh = await self.get(record.tenant, record.id)
            self._remember(await self.stores.registry.update(fresh.model_copy(update=changes)))
