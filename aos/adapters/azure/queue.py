"""EventTransport on Azure Storage Queues (`azure.storage.queue.aio`): the cheaper alternative to Service Bus.

Queues `aos-events` (ingress) and `aos-outbox` (agent emissions), one `StorageQueueTransport` per queue.

Decisions:
- Bodies are base64 of the CloudEvent JSON, the Azure Functions queue trigger's default `messageEncoding`, so
  the Functions host and this transport read each other's messages. A received body that is not base64 is
  taken as sent (producers that write raw JSON still get in).
- Storage Queues have no message properties and assign their own message ids: the event id (for dedupe) and
  trace context (the CloudEvents `traceparent` extension) travel inside the CloudEvent.
- Dead-letter = move to `<queue>-poison` (the name the Functions host uses) as a JSON envelope
  `{"reason", "message_id", "delivery_count", "body"}` (body as received, decoded), then delete the original.
- A lost pop receipt (visibility expired, someone else dequeued) on settle raises `Conflict`.
Limitation: a queue message holds 64 KiB, so an event over ~48 KiB of JSON is refused with `PayloadTooLarge`
(put large data in the BlobStore and send a reference, or use Service Bus).
"""

from __future__ import annotations

import abc
import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError

from aos.errors import Conflict, PayloadTooLarge, StorageError
from aos.model import Event
from aos.ports import EventTransport, TransportMessage

MAX_MESSAGE_BYTES = 64 * 1024
MAX_PER_RECEIVE = 32  # the service's limit per Get Messages call


@dataclass(frozen=True)
class QueueItem:
    id: str
    pop_receipt: str
    content: str
    dequeue_count: int


class QueueApi(abc.ABC):
    """The Storage Queue calls the transport needs, on one queue. Raises azure.core exceptions unchanged."""

    name: str

    @abc.abstractmethod
    async def ensure_queue(self) -> None: ...

    @abc.abstractmethod
    async def send(self, content: str) -> None: ...

    @abc.abstractmethod
    async def receive(self, max_messages: int, visibility_timeout: int) -> list[QueueItem]: ...

    @abc.abstractmethod
    async def delete(self, message_id: str, pop_receipt: str) -> None: ...

    @abc.abstractmethod
    async def release(self, message_id: str, pop_receipt: str) -> None:
        """Make the message visible again now (visibility timeout 0)."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class SdkQueueApi(QueueApi):
    """`QueueApi` on an async `QueueClient` (owned). Content is passed through: encoding is the transport's."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.name = str(client.queue_name)

    async def ensure_queue(self) -> None:
        try:
            await self._client.create_queue()
        except ResourceExistsError:
            pass

    async def send(self, content: str) -> None:
        await self._client.send_message(content)

    async def receive(self, max_messages: int, visibility_timeout: int) -> list[QueueItem]:
        items: list[QueueItem] = []
        pager = self._client.receive_messages(max_messages=max_messages, visibility_timeout=visibility_timeout,
                                              messages_per_page=min(max_messages, MAX_PER_RECEIVE))
        async for m in pager:
            items.append(QueueItem(m.id, m.pop_receipt, m.content, int(m.dequeue_count or 1)))
        return items

    async def delete(self, message_id: str, pop_receipt: str) -> None:
        await self._client.delete_message(message_id, pop_receipt)

    async def release(self, message_id: str, pop_receipt: str) -> None:
        await self._client.update_message(message_id, pop_receipt, visibility_timeout=0)

    async def close(self) -> None:
        await self._client.close()


def _decode(content: str) -> bytes:
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return content.encode()


class StorageQueueTransport(EventTransport):
    def __init__(self, queue: QueueApi, poison: QueueApi) -> None:
        self.queue = queue
        self.poison = poison
        self._closed = False

    async def send(self, events: Sequence[Event]) -> None:
        for event in events:
            body = event.model_dump_json(exclude_none=True).encode()
            content = base64.b64encode(body).decode("ascii")
            if len(content) > MAX_MESSAGE_BYTES:
                raise PayloadTooLarge(f"event {event.id} is {len(body)} bytes of JSON; a Storage Queue message "
                                      "holds ~48 KiB: put large data in the BlobStore and send a reference",
                                      event_id=event.id)
            try:
                await self.queue.send(content)
            except AzureError as e:
                raise StorageError(f"queue send failed [queue={self.queue.name}, event={event.id}]: {e}") from e

    async def receive(self, max_messages: int = 32, visibility_timeout: float = 30.0) -> list[TransportMessage]:
        try:
            items = await self.queue.receive(max_messages, max(1, round(visibility_timeout)))
        except AzureError as e:
            raise StorageError(f"queue receive failed [queue={self.queue.name}]: {e}") from e
        return [TransportMessage(i.id, _decode(i.content), i.dequeue_count, {}, i.pop_receipt) for i in items]

    async def complete(self, message: TransportMessage) -> None:
        await self._settle(message, "complete", self.queue.delete)

    async def abandon(self, message: TransportMessage) -> None:
        await self._settle(message, "abandon", self.queue.release)

    async def dead_letter(self, message: TransportMessage, reason: str) -> None:
        envelope = {"reason": reason, "message_id": message.message_id, "delivery_count": message.delivery_count,
                    "body": message.body.decode("utf-8", errors="replace")}
        try:
            await self.poison.send(base64.b64encode(json.dumps(envelope).encode()).decode("ascii"))
        except AzureError as e:
            raise StorageError(f"poison queue send failed [queue={self.poison.name}]: {e}") from e
        await self._settle(message, "dead-letter", self.queue.delete)

    async def _settle(self, message: TransportMessage, what: str, action: Any) -> None:
        try:
            await action(message.message_id, message.receipt)
        except (ResourceNotFoundError, HttpResponseError) as e:
            if isinstance(e, ResourceNotFoundError) or e.status_code in (400, 404):
                raise Conflict(f"cannot {what} queue message {message.message_id} on {self.queue.name}: its pop "
                               "receipt is no longer valid (visibility expired); it will be delivered again",
                               message_id=message.message_id) from e
            raise StorageError(f"queue {what} failed [queue={self.queue.name}]: {e}") from e
        except AzureError as e:
            raise StorageError(f"queue {what} failed [queue={self.queue.name}]: {e}") from e

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.queue.close()
        await self.poison.close()


async def open_queue_transport(target: Any, queue: str, *, credential: Any = None) -> StorageQueueTransport:
    """A transport on `queue` of `target` (a `StorageTarget`); the queue and `<queue>-poison` are created."""
    from azure.storage.queue.aio import QueueClient

    from aos.adapters.azure.credentials import STORAGE_API_VERSION

    def client(name: str) -> Any:
        if target.connection_string:
            return QueueClient.from_connection_string(target.connection_string, name,
                                                      api_version=STORAGE_API_VERSION)
        return QueueClient(target.endpoint("queue"), name, credential=credential, api_version=STORAGE_API_VERSION)

    transport = StorageQueueTransport(SdkQueueApi(client(queue)), SdkQueueApi(client(f"{queue}-poison")))
    try:
        await transport.queue.ensure_queue()
        await transport.poison.ensure_queue()
    except AzureError as e:
        await transport.close()
        raise StorageError(f"cannot reach Storage Queue '{queue}': {e}") from e
    except BaseException:
        await transport.close()
        raise
    return transport
