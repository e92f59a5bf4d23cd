"""The Service Bus transport against a real namespace: runs only when one is configured (marker `live`).

Needs `ServiceBusConnection__fullyQualifiedNamespace` (NAME.servicebus.windows.net, with topic `aos-outbox`
and its subscription `aos-egress` as infra/ creates them) and a signed-in identity with the Service Bus Data
Owner role on it (DefaultAzureCredential: `az login`, or AZURE_CLIENT_ID/SECRET/TENANT_ID).
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from aos.adapters.azure import names
from aos.adapters.azure.credentials import default_credential
from aos.adapters.azure.servicebus import open_servicebus_transport
from aos.model import Event

NAMESPACE = os.environ.get("ServiceBusConnection__fullyQualifiedNamespace")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.live,
    pytest.mark.skipif(not NAMESPACE, reason="live Service Bus test: set ServiceBusConnection__fullyQualifiedNamespace "
                       "(and sign in for DefaultAzureCredential) to run it against real Azure"),
]


async def test_send_receive_settle_on_real_service_bus() -> None:
    credential = default_credential()
    transport = open_servicebus_transport(NAMESPACE or "", names.TOPIC_OUTBOX, names.SUBSCRIPTION_EGRESS,
                                          credential=credential)
    try:
        mine = Event(id=f"live-{uuid.uuid4().hex}", source="test://live", type="aos.live.check")
        await transport.send([mine, mine])  # duplicate detection keeps one (if enabled on the topic)
        seen = 0
        async with asyncio.timeout(60):
            while seen == 0:
                for msg in await transport.receive(32):
                    if msg.message_id == mine.id:
                        seen += 1
                        assert msg.delivery_count == 1
                        await transport.dead_letter(msg, "live test: dead-lettered on purpose")
                    else:
                        await transport.abandon(msg)
    finally:
        await transport.close()
        await credential.close()
