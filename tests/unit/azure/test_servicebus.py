"""The Service Bus transport against a fake namespace that behaves like the service (see fake_servicebus)."""

from __future__ import annotations

import pytest
from azure.servicebus.exceptions import ServiceBusServerBusyError

from aos.adapters.azure import names
from aos.adapters.azure.servicebus import CONTENT_TYPE, ServiceBusTransport
from aos.errors import Conflict, StorageError
from aos.model import Event
from tests.unit.azure.fake_servicebus import FakeNamespace

pytestmark = pytest.mark.anyio
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def ns() -> FakeNamespace:
    namespace = FakeNamespace(lock_duration=30, max_delivery_count=3, duplicate_window=600)
    namespace.topic(names.TOPIC_EVENTS, names.SUBSCRIPTION_KERNEL, "audit")
    return namespace


def transport(ns: FakeNamespace, subscription: str = names.SUBSCRIPTION_KERNEL) -> ServiceBusTransport:
    return ServiceBusTransport(ns.api(names.TOPIC_EVENTS, subscription))


def event(n: int = 1, **ext: str) -> Event:
    return Event.model_validate({"id": f"e-{n}", "source": "test://sb", "type": "ticket.created", "data": {"n": n},
                                 **ext})


async def test_message_id_is_the_event_id_and_trace_context_is_in_application_properties(
    ns: FakeNamespace,
) -> None:
    t = transport(ns)
    await t.send([event(1, traceparent=TRACEPARENT)])
    [msg] = await t.receive(10)
    assert msg.message_id == "e-1"
    assert msg.properties == {"traceparent": TRACEPARENT}
    assert Event.model_validate_json(msg.body) == event(1, traceparent=TRACEPARENT)
    assert ns.topics[names.TOPIC_EVENTS]["audit"].active[0].out.content_type == CONTENT_TYPE
    await t.complete(msg)
    assert await t.receive(10) == []


async def test_a_resent_event_id_is_dropped_within_the_duplicate_detection_window(ns: FakeNamespace) -> None:
    t = transport(ns)
    await t.send([event(1)])
    await t.send([event(1)])  # a retried step re-publishes its emission
    [msg] = await t.receive(10)
    await t.complete(msg)
    ns.advance(601)
    await t.send([event(1)])  # outside the window it is a new message
    assert len(await t.receive(10)) == 1


async def test_each_subscription_gets_its_own_copy(ns: FakeNamespace) -> None:
    await transport(ns).send([event(1)])
    for sub in (names.SUBSCRIPTION_KERNEL, "audit"):
        [msg] = await transport(ns, sub).receive(10)
        await transport(ns, sub).complete(msg)


async def test_peek_lock_hides_a_message_until_its_lock_expires_then_redelivers(ns: FakeNamespace) -> None:
    t = transport(ns)
    await t.send([event(1)])
    [first] = await t.receive(1)
    assert await t.receive(1) == []
    ns.advance(31)
    [again] = await t.receive(1)
    assert again.delivery_count == 2
    with pytest.raises(Conflict, match="lock expired"):
        await t.complete(first)
    await t.complete(again)


async def test_abandon_redelivers_until_max_delivery_count_then_dead_letters(ns: FakeNamespace) -> None:
    t = transport(ns)
    await t.send([event(1)])
    for count in (1, 2, 3):
        [msg] = await t.receive(1)
        assert msg.delivery_count == count
        await t.abandon(msg)
    assert await t.receive(1) == []
    [(dead, reason, _)] = ns.topics[names.TOPIC_EVENTS][names.SUBSCRIPTION_KERNEL].dead_letters
    assert (dead.message_id, reason) == ("e-1", "MaxDeliveryCountExceeded")


async def test_dead_letter_keeps_the_reason(ns: FakeNamespace) -> None:
    t = transport(ns)
    await t.send([event(1)])
    [msg] = await t.receive(1)
    await t.dead_letter(msg, "not a CloudEvent: type missing" + "!" * 5000)
    [(_, reason, description)] = ns.topics[names.TOPIC_EVENTS][names.SUBSCRIPTION_KERNEL].dead_letters
    assert reason.startswith("not a CloudEvent") and len(reason) == 1024 and len(description) > 1024


async def test_service_errors_are_storage_errors_with_context(ns: FakeNamespace) -> None:
    t = transport(ns)
    ns.faults.append(ServiceBusServerBusyError(message="throttled"))
    with pytest.raises(StorageError, match="aos-events") as info:
        await t.send([event(1)])
    assert isinstance(info.value.__cause__, ServiceBusServerBusyError)
    await t.send([event(1)])  # the retry goes through
    assert len(await t.receive(1)) == 1


async def test_close_is_idempotent(ns: FakeNamespace) -> None:
    t = transport(ns)
    await t.close()
    await t.close()
    assert t.api.closed  # type: ignore[attr-defined]
