"""A Service Bus namespace in memory, behind `ServiceBusApi` (the transport's SDK boundary).

It behaves like the service where AOS depends on it: topics fan out to subscriptions; peek-lock (a received
message is invisible until settled or its lock expires); an expired lock or an abandon redelivers with
`delivery_count` + 1; a message whose delivery count reaches `max_delivery_count` goes to the dead-letter queue
with reason `MaxDeliveryCountExceeded`; duplicate detection drops a message id seen within the window;
settling with an expired lock raises the SDK's `MessageLockLostError`. Time is a manual clock, so lock expiry
is tested without sleeping. `faults` lets a test make the next calls raise (throttling, outages).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from azure.servicebus.exceptions import MessageLockLostError, MessagingEntityNotFoundError

from aos.adapters.azure.servicebus import OutgoingMessage, ReceivedMessage, ServiceBusApi


@dataclass
class _Message:
    out: OutgoingMessage
    delivery_count: int = 0
    lock_token: int | None = None
    locked_until: float = 0.0


@dataclass
class FakeSubscription:
    active: list[_Message] = field(default_factory=list)
    dead_letters: list[tuple[OutgoingMessage, str, str]] = field(default_factory=list)


class FakeNamespace:
    def __init__(self, *, lock_duration: float = 30.0, max_delivery_count: int = 10,
                 duplicate_window: float = 600.0) -> None:
        self.now = 0.0
        self.lock_duration = lock_duration
        self.max_delivery_count = max_delivery_count
        self.duplicate_window = duplicate_window
        self.topics: dict[str, dict[str, FakeSubscription]] = {}
        self._seen: dict[str, dict[str, float]] = {}
        self._tokens = itertools.count(1)
        self.faults: list[Exception] = []

    def topic(self, name: str, *subscriptions: str) -> None:
        self.topics[name] = {s: FakeSubscription() for s in subscriptions}
        self._seen[name] = {}

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def api(self, topic: str, subscription: str | None = None) -> FakeServiceBusApi:
        return FakeServiceBusApi(self, topic, subscription)

    def fault(self) -> None:
        if self.faults:
            raise self.faults.pop(0)

    def send(self, topic: str, messages: list[OutgoingMessage]) -> None:
        if topic not in self.topics:
            raise MessagingEntityNotFoundError(message=f"topic {topic} does not exist")
        seen = self._seen[topic]
        for out in messages:
            first = seen.get(out.message_id)
            if first is not None and self.now - first < self.duplicate_window:
                continue  # duplicate detection: accepted, silently dropped
            seen[out.message_id] = self.now
            for sub in self.topics[topic].values():
                sub.active.append(_Message(out))

    def _expire(self, sub: FakeSubscription) -> None:
        for m in list(sub.active):
            if m.lock_token is not None and m.locked_until <= self.now:
                self._release(sub, m)

    def _release(self, sub: FakeSubscription, m: _Message) -> None:
        m.lock_token = None
        if m.delivery_count >= self.max_delivery_count:
            sub.active.remove(m)
            sub.dead_letters.append((m.out, "MaxDeliveryCountExceeded",
                                     f"Message could not be consumed after {m.delivery_count} delivery attempts."))

    def receive(self, topic: str, subscription: str, max_messages: int) -> list[ReceivedMessage]:
        sub = self.topics[topic][subscription]
        self._expire(sub)
        got = []
        for m in sub.active:
            if len(got) == max_messages:
                break
            if m.lock_token is None:
                m.delivery_count += 1
                m.lock_token = next(self._tokens)
                m.locked_until = self.now + self.lock_duration
                got.append(ReceivedMessage(m.out.message_id, m.out.body, m.delivery_count,
                                           dict(m.out.properties), (subscription, m.lock_token)))
        return got

    def _locked(self, topic: str, handle: Any) -> tuple[FakeSubscription, _Message]:
        subscription, token = handle
        sub = self.topics[topic][subscription]
        self._expire(sub)
        for m in sub.active:
            if m.lock_token == token:
                return sub, m
        raise MessageLockLostError(message="The lock supplied is invalid: it expired, or the message was settled")

    def settle(self, topic: str, handle: Any, how: str, reason: str = "", description: str = "") -> None:
        sub, m = self._locked(topic, handle)
        if how == "complete":
            sub.active.remove(m)
        elif how == "abandon":
            self._release(sub, m)
        else:
            sub.active.remove(m)
            sub.dead_letters.append((m.out, reason, description))


class FakeServiceBusApi(ServiceBusApi):
    def __init__(self, namespace: FakeNamespace, topic: str, subscription: str | None) -> None:
        self.ns = namespace
        self.topic = topic
        self.subscription = subscription
        self.closed = False

    async def send(self, messages: list[OutgoingMessage]) -> None:
        self.ns.fault()
        self.ns.send(self.topic, messages)

    async def receive(self, max_messages: int, max_wait_s: float) -> list[ReceivedMessage]:
        self.ns.fault()
        assert self.subscription is not None
        return self.ns.receive(self.topic, self.subscription, max_messages)

    async def complete(self, handle: Any) -> None:
        self.ns.fault()
        self.ns.settle(self.topic, handle, "complete")

    async def abandon(self, handle: Any) -> None:
        self.ns.fault()
        self.ns.settle(self.topic, handle, "abandon")

    async def dead_letter(self, handle: Any, reason: str, description: str) -> None:
        self.ns.fault()
        self.ns.settle(self.topic, handle, "dead-letter", reason, description)

    async def close(self) -> None:
        self.closed = True
