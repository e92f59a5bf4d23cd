"""End to end on `AOS_BACKEND=azure-local`: Azurite (Blob + Storage Queues) and the Cosmos emulator.

The whole OS (`System.open`, the embedded runtime with its ingress poller) runs on the Azure adapters: a
CloudEvent sent to the Storage Queue `aos-events` is received by the poller, published (tenant from
`aostenant`), wakes `triage`, whose step writes its context through its ContextMCPServer and messages
`responder`, whose step emits `ticket.answered`, which arrives on the Storage Queue `aos-outbox`.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from aos.adapters.azure import names
from aos.adapters.azure.credentials import StorageTarget
from aos.adapters.azure.queue import open_queue_transport
from aos.config import Config
from aos.model import AgentSpec, Event
from aos.runtime import System
from tests.emulators.azurite import Azurite
from tests.emulators.cosmos import EMULATOR_KEY

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
TENANT = "acme"


def spec(agent_id: str, entry: str, **extra: object) -> AgentSpec:
    return AgentSpec.model_validate({
        "id": agent_id, "purpose": f"{agent_id} for the e2e test",
        "brain": {"kind": "python", "settings": {"entrypoint": f"tests.integration.e2e_brains:{entry}"}}, **extra,
    })


async def test_register_publish_via_queue_wake_step_context_message_and_outbox(
    azurite: Azurite, cosmos_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("AOS_COSMOS_EMULATOR_ENDPOINT", cosmos_endpoint)
    monkeypatch.setenv("AOS_COSMOS_KEY", EMULATOR_KEY)
    config = Config(backend="azure-local", data_dir=tmp_path, admin_key="k" * 24,
                    cosmos_database=f"e2e{uuid.uuid4().hex[:12]}", sweep_interval_s=0.5, scheduler_interval_s=0.5)
    target = StorageTarget(connection_string=azurite.connection_string)
    producer = await open_queue_transport(target, names.QUEUE_EVENTS)
    consumer = await open_queue_transport(target, names.QUEUE_OUTBOX)
    try:
        async with System.open(config) as system:
            kernel = system.kernel
            await kernel.register(TENANT, spec("triage", "triage", subscriptions=[{"type": "ticket.created"}]))
            await kernel.register(TENANT, spec("responder", "responder"))

            ticket = Event.model_validate({"id": f"t-{uuid.uuid4().hex[:8]}", "source": "test://helpdesk",
                                           "type": "ticket.created", "data": {"ticket": 42}, "aostenant": TENANT})
            await producer.send([ticket])

            answered: list[Event] = []
            seen_types: list[str] = []
            async with asyncio.timeout(30):
                while not answered:
                    for msg in await consumer.receive(32):
                        out = Event.model_validate_json(msg.body)
                        seen_types.append(out.type)
                        if out.type == "ticket.answered":
                            answered.append(out)
                        await consumer.complete(msg)
                    if not answered:
                        await asyncio.sleep(0.1)

            [answer] = answered
            assert answer.sender == "responder" and answer.subject == "42"
            assert answer.data["ticket"] == 42
            assert "ticket.triaged" in seen_types  # the agent-to-agent message left through the outbox too

            # an emission is sent while its step applies effects; the step is marked done right after
            async with asyncio.timeout(10):
                for agent in ("triage", "responder"):
                    while (await kernel.steps(TENANT, agent))[0].status != "done":
                        await asyncio.sleep(0.05)
            [triaged] = await kernel.steps(TENANT, "triage")
            assert (triaged.status, [e.id for e in triaged.events]) == ("done", [ticket.id])
            [responded] = await kernel.steps(TENANT, "responder")
            assert responded.status == "done" and responded.events[0].type == "ticket.triaged"
            assert kernel.context is not None
            async with kernel.context.session(TENANT, "triage") as session:
                notes = await session.call("block_read", {"label": "working_notes"})
            assert notes["value"] == "triaged 42"
            accepted = await kernel.events(TENANT)
            assert ticket.id in {a.event.id for a in accepted}
            assert "aostenant" not in (accepted[-1].event.model_extra or {})
            assert system.extras["ingress"].accepted == 1
        assert await producer.receive(1) == []  # the ingress message was completed, not left to redeliver
    finally:
        await producer.close()
        await consumer.close()
