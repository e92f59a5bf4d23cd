"""The egress hook (SinkingMailbox → EventSink) and the ingress poller, on in-memory stores and a fake transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from aos.adapters.azure.factory.egress import SinkingMailbox, TransportSink
from aos.adapters.embedded import open_memory
from aos.brains import Brains
from aos.config import Config
from aos.errors import StorageError
from aos.kernel import Kernel, NoNotifier
from aos.model import AgentSpec, Event
from aos.ports import EventSink, EventTransport, TransportMessage
from aos.runtime.ingress import IngressPoller

pytestmark = pytest.mark.anyio


class RecordingSink(EventSink):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.fail = False

    async def emitted(self, tenant: str, event: Event) -> None:
        if self.fail:
            raise StorageError("outbox unreachable")
        self.seen.append((tenant, event.id))


class FakeTransport(EventTransport):
    """Settlements recorded per message id; `sent` collects what was sent."""

    def __init__(self) -> None:
        self.sent: list[Event] = []
        self.settled: dict[str, tuple[str, str | None]] = {}

    async def send(self, events: Sequence[Event]) -> None:
        self.sent.extend(events)

    async def receive(self, max_messages: int = 32, visibility_timeout: float = 30.0) -> list[TransportMessage]:
        return []

    async def complete(self, message: TransportMessage) -> None:
        self.settled[message.message_id] = ("complete", None)

    async def abandon(self, message: TransportMessage) -> None:
        self.settled[message.message_id] = ("abandon", None)

    async def dead_letter(self, message: TransportMessage, reason: str) -> None:
        self.settled[message.message_id] = ("dead-letter", reason)

    async def close(self) -> None:
        return None


def spec(agent_id: str, **extra: object) -> AgentSpec:
    return AgentSpec.model_validate({"id": agent_id, "brain": {"kind": "python", "settings": {
        "entrypoint": "tests.unit.kernel.brains_for_tests:noop"}}, **extra})


@pytest.fixture
async def kernel() -> AsyncIterator[Kernel]:
    stores = open_memory()
    brains = Brains(Config())
    yield Kernel(stores, brains, notifier=NoNotifier())
    await brains.aclose()


async def test_emissions_reach_the_sink_after_acceptance_duplicates_included(kernel: Kernel) -> None:
    sink = RecordingSink()
    kernel.stores.mailbox = SinkingMailbox(kernel.stores.mailbox, sink)
    await kernel.register("acme", spec("alpha"))
    emitted = Event.model_validate({"id": "a:1", "source": "aos://agents/alpha", "type": "x.y", "aossender": "alpha"})
    await kernel.publish("acme", emitted, sender="alpha")
    await kernel.publish("acme", emitted, sender="alpha")  # a retried step re-publishes it
    await kernel.publish("acme", Event(id="ext", source="test", type="x.y"))  # no sender: not egress
    assert sink.seen == [("acme", "a:1"), ("acme", "a:1")]


async def test_a_failing_sink_fails_the_publish_after_the_event_is_accepted(kernel: Kernel) -> None:
    sink = RecordingSink()
    sink.fail = True
    kernel.stores.mailbox = SinkingMailbox(kernel.stores.mailbox, sink)
    emitted = Event.model_validate({"id": "a:1", "source": "aos://agents/alpha", "type": "x.y", "aossender": "alpha"})
    with pytest.raises(StorageError):
        await kernel.publish("acme", emitted, sender="alpha")
    sink.fail = False
    assert (await kernel.publish("acme", emitted, sender="alpha")).duplicate  # the retry re-sends it
    assert sink.seen == [("acme", "a:1")]


async def test_transport_sink_sends_the_event() -> None:
    transport = FakeTransport()
    await TransportSink(transport).emitted("acme", Event(id="e", source="s", type="t"))
    assert [e.id for e in transport.sent] == ["e"]


def message(body: bytes, count: int = 1, mid: str = "m1", **props: str) -> TransportMessage:
    return TransportMessage(mid, body, count, dict(props), receipt=None)


async def test_poller_publishes_with_the_tenant_extension_and_completes(kernel: Kernel) -> None:
    await kernel.register("globex", spec("alpha", subscriptions=[{"type": "ticket.*"}]))
    transport = FakeTransport()
    poller = IngressPoller(kernel, transport, "default")
    await poller.handle(message(b'{"id":"e1","source":"s","type":"ticket.created","aostenant":"globex"}'))
    assert transport.settled["m1"] == ("complete", None)
    [accepted] = await kernel.events("globex")
    assert (accepted.event.id, accepted.delivered_to) == ("e1", ("globex/alpha",))
    assert "aostenant" not in (accepted.event.model_extra or {})


async def test_poller_uses_the_default_tenant_and_a_redelivery_is_a_harmless_duplicate(kernel: Kernel) -> None:
    transport = FakeTransport()
    poller = IngressPoller(kernel, transport, "acme")
    body = b'{"id":"e1","source":"s","type":"x"}'
    await poller.handle(message(body))
    await poller.handle(message(body, count=2, mid="m2"))
    assert transport.settled == {"m1": ("complete", None), "m2": ("complete", None)}
    assert [a.event.id for a in await kernel.events("acme")] == ["e1"]


@pytest.mark.parametrize("body, reason", [
    (b"not json", "not JSON"),
    (b'{"id":"e1","type":"x"}', "not a valid CloudEvent"),
    (b'{"id":"e1","source":"s","type":"x","aostenant":"Bad Tenant"}', "not a valid tenant"),
    (b'{"id":"e1","source":"s","type":"x","aostarget":"ghost"}', "rejected"),
])
async def test_poller_dead_letters_what_can_never_be_accepted_with_the_reason(
    kernel: Kernel, body: bytes, reason: str,
) -> None:
    transport = FakeTransport()
    await IngressPoller(kernel, transport, "acme").handle(message(body))
    how, why = transport.settled["m1"]
    assert how == "dead-letter" and why is not None and reason in why


async def test_poller_abandons_on_storage_errors_then_dead_letters_at_the_delivery_limit(kernel: Kernel) -> None:
    class Down(SinkingMailbox):
        async def deliver(self, tenant, event, keys):  # type: ignore[no-untyped-def]
            raise StorageError("cosmos unavailable")

    kernel.stores.mailbox = Down(kernel.stores.mailbox, RecordingSink())
    transport = FakeTransport()
    poller = IngressPoller(kernel, transport, "acme", max_deliveries=3)
    body = b'{"id":"e1","source":"s","type":"x"}'
    await poller.handle(message(body, count=2))
    assert transport.settled["m1"] == ("abandon", None)
    await poller.handle(message(body, count=3))
    how, why = transport.settled["m1"]
    assert how == "dead-letter" and why is not None and "gave up after 3 deliveries" in why
