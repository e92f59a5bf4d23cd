"""The egress hook: agent emissions go to a transport (`aos-outbox`) once the mailbox has accepted them.

`SinkingMailbox` wraps a backend's Mailbox and, after `deliver` returns, hands every event carrying a sender
(`aossender`: agent effects and events an agent token published) to an `EventSink`, duplicates included (a
retried step re-publishes the same event id; the sink is idempotent on it). Wrapping the Mailbox port rather
than changing the kernel puts the hook exactly where "accepted" is decided, keeps the kernel unaware of
brokers, and gives every host (embedded runtime, Functions) the same egress from one factory.

A sink failure propagates out of `deliver`, so `Kernel.publish` raises: the step stays unfinished and is
retried with its journaled decision (invariant 2), and the emission is re-sent; nothing is lost between the
mailbox and the broker, at the price of at-least-once egress (consumers dedupe on the event id; Service Bus
does it for them with message id = event id).
"""

from __future__ import annotations

from collections.abc import Sequence

from aos.model import Decision, Event, StepRecord
from aos.ports import AcceptedEvent, Claim, Delivery, EventSink, EventTransport, Mailbox


class TransportSink(EventSink):
    """Sends each emission to an `EventTransport` (Storage Queue `aos-outbox` or Service Bus topic)."""

    def __init__(self, transport: EventTransport) -> None:
        self.transport = transport

    async def emitted(self, tenant: str, event: Event) -> None:
        await self.transport.send([event])


class SinkingMailbox(Mailbox):
    def __init__(self, inner: Mailbox, sink: EventSink) -> None:
        self.inner = inner
        self.sink = sink

    async def deliver(self, tenant: str, event: Event, keys: Sequence[str]) -> Delivery:
        delivery = await self.inner.deliver(tenant, event, keys)
        if event.sender is not None:
            await self.sink.emitted(tenant, event)
        return delivery

    async def begin_step(self, key: str, agent_id: str, max_events: int) -> Claim | None:
        return await self.inner.begin_step(key, agent_id, max_events)

    async def record_decision(self, key: str, seq: int, decision: Decision) -> Decision:
        return await self.inner.record_decision(key, seq, decision)

    async def complete_step(self, key: str, seq: int) -> None:
        await self.inner.complete_step(key, seq)

    async def fail_step(self, key: str, seq: int, error: str) -> None:
        await self.inner.fail_step(key, seq, error)

    async def pending(self, key: str) -> int:
        return await self.inner.pending(key)

    async def keys_with_work(self, limit: int = 1000) -> list[str]:
        return await self.inner.keys_with_work(limit)

    async def steps(self, key: str, *, limit: int = 20, before: int | None = None) -> list[StepRecord]:
        return await self.inner.steps(key, limit=limit, before=before)

    async def purge(self, key: str) -> int:
        return await self.inner.purge(key)

    async def events(self, tenant: str, *, limit: int = 50, before: int | None = None,
                     type_prefix: str | None = None) -> list[AcceptedEvent]:
        return await self.inner.events(tenant, limit=limit, before=before, type_prefix=type_prefix)
