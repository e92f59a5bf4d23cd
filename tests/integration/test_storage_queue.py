"""The Storage Queue EventTransport on Azurite: send/receive/settle, redelivery, poison queue, lost receipts."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest

from aos.adapters.azure.credentials import StorageTarget
from aos.adapters.azure.queue import StorageQueueTransport, open_queue_transport
from aos.errors import Conflict
from aos.model import Event
from aos.ports import TransportMessage
from tests.emulators.azurite import Azurite, fresh_name

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def transport(azurite: Azurite) -> AsyncIterator[StorageQueueTransport]:
    t = await open_queue_transport(StorageTarget(connection_string=azurite.connection_string), fresh_name("q"))
    try:
        yield t
    finally:
        await t.close()


def event(n: int = 1) -> Event:
    return Event(id=f"e-{n}", source="test://q", type="ticket.created", data={"n": n}, traceparent="00-" + "1" * 32
                 + "-" + "2" * 16 + "-01")


async def receive_one(t: StorageQueueTransport, visibility: float = 30, within: float = 5) -> TransportMessage:
    async with asyncio.timeout(within):
        while not (got := await t.receive(1, visibility)):
            await asyncio.sleep(0.05)
    return got[0]


async def test_send_receive_complete_roundtrips_the_cloudevent(transport: StorageQueueTransport) -> None:
    await transport.send([event(1), event(2)])
    got = await transport.receive(10)
    assert sorted(Event.model_validate_json(m.body).id for m in got) == ["e-1", "e-2"]
    first = Event.model_validate_json(got[0].body)
    assert first.model_extra and first.model_extra["traceparent"].startswith("00-")  # trace context rides along
    assert all(m.delivery_count == 1 for m in got)
    for m in got:
        await transport.complete(m)
    assert await transport.receive(10) == []


async def test_abandon_redelivers_with_a_higher_delivery_count(transport: StorageQueueTransport) -> None:
    await transport.send([event()])
    first = await receive_one(transport)
    assert await transport.receive(1) == []  # locked: nobody else gets it
    await transport.abandon(first)
    again = await receive_one(transport)
    assert (again.body, again.delivery_count) == (first.body, 2)


async def test_an_expired_lock_redelivers_and_the_stale_receipt_cannot_settle(
    transport: StorageQueueTransport,
) -> None:
    await transport.send([event()])
    first = await receive_one(transport, visibility=1)
    again = await receive_one(transport, within=5)
    assert again.delivery_count == 2
    with pytest.raises(Conflict):
        await transport.complete(first)
    await transport.complete(again)


async def test_dead_letter_moves_the_message_to_the_poison_queue_with_the_reason(
    transport: StorageQueueTransport,
) -> None:
    await transport.send([event()])
    msg = await receive_one(transport)
    await transport.dead_letter(msg, "not a CloudEvent")
    assert await transport.receive(1) == []
    [poisoned] = await transport.poison.receive(1, 30)
    envelope = json.loads(base64.b64decode(poisoned.content))
    assert envelope["reason"] == "not a CloudEvent"
    assert Event.model_validate_json(envelope["body"]).id == "e-1"


async def test_raw_json_messages_from_other_producers_are_read_as_sent(transport: StorageQueueTransport) -> None:
    await transport.queue.send(json.dumps({"id": "raw", "source": "x", "type": "t", "specversion": "1.0"}))
    msg = await receive_one(transport)
    assert Event.model_validate_json(msg.body).id == "raw"
