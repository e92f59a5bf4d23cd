"""EventTransport on Azure Service Bus (`azure.servicebus.aio`): topics `aos-events` (in) and `aos-outbox` (out).

One `ServiceBusTransport` per channel: it sends to a topic and receives from one subscription of a topic
(a subscription per consumer: the Functions host reads `aos-events/aos-kernel`, egress consumers read
`aos-outbox/aos-egress`). `ServiceBusApi` is the thin layer over the SDK calls used, so tests put a fake that
behaves like the service there (`tests/unit/azure/fake_servicebus.py`); no emulator runs here.

Decisions:
- message id = event id, so the topic's duplicate detection drops a re-sent emission within its window;
  body = the CloudEvent in structured JSON mode (content type `application/cloudevents+json`);
  `traceparent`/`tracestate` (W3C trace context) go in application properties, from the event's CloudEvents
  distributed-tracing extension when it has one; `aostenant` too, for the Functions trigger's tenant hint.
- Peek-lock receive. The lock duration is the subscription's `LockDuration` (set in infra/), so
  `visibility_timeout` is not used here; settling after the lock expired raises `Conflict`.
- dead-letter reason ≤ 1,024 characters (the rest goes into the error description, which is capped too).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import AzureError

from aos.errors import Conflict, PayloadTooLarge, StorageError
from aos.model import Event
from aos.ports import EventTransport, TransportMessage

CONTENT_TYPE = "application/cloudevents+json"
TRACE_PROPERTIES = ("traceparent", "tracestate")
TENANT_PROPERTY = "aostenant"
REASON_MAX = 1024
MAX_WAIT_S = 5.0


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    body: bytes
    properties: dict[str, str] = field(default_factory=dict)
    content_type: str = CONTENT_TYPE


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    body: bytes
    delivery_count: int
    properties: dict[str, Any]
    handle: Any  # the SDK's ServiceBusReceivedMessage (or the fake's token)


class ServiceBusApi(abc.ABC):
    """The Service Bus calls a transport needs: send to one topic, receive/settle on one subscription.

    Raises the SDK's exceptions unchanged (`azure.servicebus.exceptions.*`, all `AzureError`s); settling a
    message whose lock expired raises `MessageLockLostError`."""

    topic: str
    subscription: str | None

    @abc.abstractmethod
    async def send(self, messages: list[OutgoingMessage]) -> None: ...

    @abc.abstractmethod
    async def receive(self, max_messages: int, max_wait_s: float) -> list[ReceivedMessage]: ...

    @abc.abstractmethod
    async def complete(self, handle: Any) -> None: ...

    @abc.abstractmethod
    async def abandon(self, handle: Any) -> None: ...

    @abc.abstractmethod
    async def dead_letter(self, handle: Any, reason: str, description: str) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class SdkServiceBusApi(ServiceBusApi):
    """`ServiceBusApi` on an async `ServiceBusClient` (owned). Sender and receiver are opened on first use."""

    def __init__(self, client: Any, topic: str, subscription: str | None) -> None:
        self._client = client
        self.topic = topic
        self.subscription = subscription
        self._sender: Any = None
        self._receiver: Any = None

    async def send(self, messages: list[OutgoingMessage]) -> None:
        from azure.servicebus import ServiceBusMessage

        if self._sender is None:
            self._sender = self._client.get_topic_sender(self.topic)
        await self._sender.send_messages([
            ServiceBusMessage(m.body, message_id=m.message_id, application_properties=dict(m.properties),  # type: ignore[arg-type]
                              content_type=m.content_type) for m in messages
        ])

    async def receive(self, max_messages: int, max_wait_s: float) -> list[ReceivedMessage]:
        if self.subscription is None:
            raise RuntimeError(f"transport on topic {self.topic} was opened without a subscription to receive from")
        if self._receiver is None:
            self._receiver = self._client.get_subscription_receiver(self.topic, self.subscription)
        got = await self._receiver.receive_messages(max_message_count=max_messages, max_wait_time=max_wait_s)
        return [ReceivedMessage(str(m.message_id), b"".join(m.body) if not isinstance(m.body, bytes) else m.body,
                                int(m.delivery_count or 0) + 1,
                                {_s(k): _s(v) for k, v in (m.application_properties or {}).items()}, m)
                for m in got]

    async def complete(self, handle: Any) -> None:
        await self._receiver.complete_message(handle)

    async def abandon(self, handle: Any) -> None:
        await self._receiver.abandon_message(handle)

    async def dead_letter(self, handle: Any, reason: str, description: str) -> None:
        await self._receiver.dead_letter_message(handle, reason=reason, error_description=description)

    async def close(self) -> None:
        for link in (self._sender, self._receiver):
            if link is not None:
                await link.close()
        await self._client.close()


def _s(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def outgoing(event: Event, tenant: str | None = None) -> OutgoingMessage:
    extras = event.model_extra or {}
    props = {name: str(extras[name]) for name in TRACE_PROPERTIES if extras.get(name)}
    if tenant:
        props[TENANT_PROPERTY] = tenant
    return OutgoingMessage(event.id, event.model_dump_json(exclude_none=True).encode(), props)


class ServiceBusTransport(EventTransport):
    def __init__(self, api: ServiceBusApi, *, max_wait_s: float = MAX_WAIT_S) -> None:
        self.api = api
        self.max_wait_s = max_wait_s
        self._closed = False

    def _where(self) -> str:
        sub = f"/subscriptions/{self.api.subscription}" if self.api.subscription else ""
        return f"{self.api.topic}{sub}"

    async def send(self, events: Sequence[Event]) -> None:
        if not events:
            return
        try:
            await self.api.send([outgoing(e) for e in events])
        except AzureError as e:
            if type(e).__name__ == "MessageSizeExceededError":
                raise PayloadTooLarge(f"events too large for Service Bus [{self._where()}]: {e}") from e
            raise StorageError(f"service bus send failed [{self._where()}, "
                               f"ids={[ev.id for ev in events][:5]}]: {e}") from e

    async def receive(self, max_messages: int = 32, visibility_timeout: float = 30.0) -> list[TransportMessage]:
        try:
            got = await self.api.receive(max_messages, self.max_wait_s)
        except AzureError as e:
            raise StorageError(f"service bus receive failed [{self._where()}]: {e}") from e
        return [TransportMessage(m.message_id, m.body, m.delivery_count, m.properties, m.handle) for m in got]

    async def complete(self, message: TransportMessage) -> None:
        await self._settle(message, "complete", self.api.complete(message.receipt))

    async def abandon(self, message: TransportMessage) -> None:
        await self._settle(message, "abandon", self.api.abandon(message.receipt))

    async def dead_letter(self, message: TransportMessage, reason: str) -> None:
        await self._settle(message, "dead-letter",
                           self.api.dead_letter(message.receipt, reason[:REASON_MAX], reason[:4 * REASON_MAX]))

    async def _settle(self, message: TransportMessage, what: str, call: Any) -> None:
        from azure.servicebus.exceptions import MessageLockLostError

        try:
            await call
        except MessageLockLostError as e:
            raise Conflict(f"cannot {what} message {message.message_id} on {self._where()}: its lock expired; "
                           "Service Bus delivers it again", message_id=message.message_id) from e
        except AzureError as e:
            raise StorageError(f"service bus {what} failed [{self._where()}, "
                               f"message={message.message_id}]: {e}") from e

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.api.close()


def open_servicebus_transport(namespace: str, topic: str, subscription: str | None, *,
                              credential: Any) -> ServiceBusTransport:
    """A transport on `topic` (receiving from `subscription`) of the namespace, as `credential`."""
    from azure.servicebus.aio import ServiceBusClient

    client = ServiceBusClient(namespace, credential)
    return ServiceBusTransport(SdkServiceBusApi(client, topic, subscription))
