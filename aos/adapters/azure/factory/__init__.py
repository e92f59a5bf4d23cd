"""Wiring of the Azure backends: `open_azure(config, emulator=...)` → `Stores`, `open_ingress(...)` → the
events transport, and the local emulators they run on (`emulators`).

Composition (DESIGN.md storage map): Cosmos DB for registry, mailbox + journal, state, keys, idempotency and
context (`aos.adapters.azure.cosmos.cosmos_stores`); Blob for payloads; the mailbox wrapped so agent
emissions go to `aos-outbox` (`egress.SinkingMailbox`). Transport: Service Bus when
`ServiceBusConnection__fullyQualifiedNamespace` is set (and `AOS_EVENT_TRANSPORT` is not `queue`), else Storage
Queues; the emulator backend always uses Storage Queues on Azurite.

`emulator=True` (`AOS_BACKEND=azure-local`): Azurite and the Cosmos emulator are found on their ports or started
from node_modules with data under `<data_dir>/emulators`, and stopped with the Stores if this process started
them; connection strings / emulator keys are used. `emulator=False`: `DefaultAzureCredential` everywhere.

Settings read here through the environment mapping (each listed, with its scope, in `aos.config.SETTINGS`):
`AzureWebJobsStorage` (local, default `UseDevelopmentStorage=true`), `AOS_COSMOS_EMULATOR_ENDPOINT` (local,
default `http://127.0.0.1:8081`), `AOS_COSMOS_KEY` (local, the emulator key; default the public emulator key),
`AOS_EVENT_TRANSPORT` (both, `servicebus` | `queue`, default: servicebus when a namespace is set).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aos.adapters.azure import names
from aos.adapters.azure.credentials import (
    StorageTarget,
    default_credential,
    servicebus_namespace,
    storage_target,
)
from aos.adapters.azure.factory.egress import SinkingMailbox, TransportSink
from aos.adapters.azure.factory.emulators import (
    COSMOS_EMULATOR_KEY,
    COSMOS_EMULATOR_PORT,
    ensure_azurite,
    ensure_cosmos,
)
from aos.errors import NotConfigured
from aos.ports import EventTransport, Stores

__all__ = ["SinkingMailbox", "TransportSink", "open_azure", "open_ingress", "open_transport"]

DEFAULT_COSMOS_EMULATOR = f"http://127.0.0.1:{COSMOS_EMULATOR_PORT}"


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


async def _start_emulators(config: Any, env: Mapping[str, str], stack: AsyncExitStack) -> str:
    """Azurite (if the storage connection string is the local default) and the Cosmos emulator (if its endpoint
    is on loopback), each found running or started; returns the Cosmos emulator endpoint."""
    data = Path(config.data_dir) / "emulators"
    conn = env.get("AzureWebJobsStorage") or "UseDevelopmentStorage=true"
    if conn.lower().startswith("usedevelopmentstorage=true"):
        stack.push_async_callback((await ensure_azurite(data)).stop)
    endpoint = env.get("AOS_COSMOS_EMULATOR_ENDPOINT") or DEFAULT_COSMOS_EMULATOR
    url = urlparse(endpoint)
    if url.hostname in ("127.0.0.1", "localhost") and url.port:
        stack.push_async_callback((await ensure_cosmos(data, url.port)).stop)
    return endpoint


async def open_transport(target: StorageTarget, env: Mapping[str, str], *, queue: str, topic: str,
                         subscription: str | None, credential: Any, emulator: bool) -> EventTransport:
    """Storage Queue `queue` on `target`, or Service Bus `topic` (receiving from `subscription`)."""
    choice = env.get("AOS_EVENT_TRANSPORT") or ("queue" if emulator or not env.get(
        "ServiceBusConnection__fullyQualifiedNamespace") else "servicebus")
    if choice not in ("queue", "servicebus"):
        raise NotConfigured(f"AOS_EVENT_TRANSPORT={choice!r} is not one of queue, servicebus",
                            setting="AOS_EVENT_TRANSPORT")
    if choice == "queue" or emulator:
        from aos.adapters.azure.queue import open_queue_transport

        return await open_queue_transport(target, queue, credential=credential)
    from aos.adapters.azure.servicebus import open_servicebus_transport

    return open_servicebus_transport(servicebus_namespace(env), topic, subscription, credential=credential)


async def open_azure(config: Any, *, emulator: bool, env: Mapping[str, str] | None = None) -> Stores:
    """Every port on Azure services (or their emulators). `Stores.close` closes clients, the credential and the
    emulators this call started, in reverse order."""
    from aos.adapters.azure.blob import open_blob_store
    from aos.adapters.azure.cosmos import cosmos_stores, open_cosmos_from_config
    from aos.adapters.embedded.clock import SystemClock

    env = _env(env)
    _quiet_sdk_http_logging()
    stack = AsyncExitStack()
    try:
        cosmos_endpoint = await _start_emulators(config, env, stack) if emulator else None
        credential = None
        if not emulator:
            credential = default_credential()
            stack.push_async_callback(credential.close)
        target = storage_target(env, emulator=emulator)
        blobs = await open_blob_store(target, credential=credential)
        stack.push_async_callback(blobs.close)
        cosmos = await open_cosmos_from_config(
            config, emulator_endpoint=cosmos_endpoint,
            emulator_key=(env.get("AOS_COSMOS_KEY") or COSMOS_EMULATOR_KEY) if emulator else None)
        stack.push_async_callback(cosmos.close)
        stores = cosmos_stores(cosmos, blobs, SystemClock())
        egress = await open_transport(target, env, queue=names.QUEUE_OUTBOX, topic=names.TOPIC_OUTBOX,
                                      subscription=None, credential=credential, emulator=emulator)
        stack.push_async_callback(egress.close)
        stores.mailbox = SinkingMailbox(stores.mailbox, TransportSink(egress))
        stores.close = stack.aclose
    except BaseException:
        await stack.aclose()
        raise
    return stores


def _quiet_sdk_http_logging() -> None:
    """The SDKs log every HTTP request and response at INFO; the ingress poller would flood the host's log.
    Raised to WARNING unless the application set a level for that logger itself."""
    http_log = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
    if http_log.level == logging.NOTSET:
        http_log.setLevel(logging.WARNING)


async def open_ingress(config: Any, *, emulator: bool, env: Mapping[str, str] | None = None) -> EventTransport:
    """The events transport the embedded runtime polls: queue `aos-events`, or Service Bus topic `aos-events`
    subscription `AOS_SERVICEBUS_SUBSCRIPTION`. Emulators must already be up (`open_azure` starts them)."""
    env = _env(env)
    credential = None if emulator else default_credential()
    try:
        transport = await open_transport(
            storage_target(env, emulator=emulator), env, queue=names.QUEUE_EVENTS, topic=names.TOPIC_EVENTS,
            subscription=getattr(config, "servicebus_subscription", names.SUBSCRIPTION_KERNEL),
            credential=credential, emulator=emulator)
    except BaseException:
        if credential is not None:
            await credential.close()
        raise
    if credential is None:
        return transport
    return _OwningTransport(transport, credential)


class _OwningTransport(EventTransport):
    """A transport that also closes the credential it was opened with."""

    def __init__(self, inner: EventTransport, credential: Any) -> None:
        self.inner, self.credential = inner, credential

    async def send(self, events: Any) -> None:
        await self.inner.send(events)

    async def receive(self, max_messages: int = 32, visibility_timeout: float = 30.0) -> Any:
        return await self.inner.receive(max_messages, visibility_timeout)

    async def complete(self, message: Any) -> None:
        await self.inner.complete(message)

    async def abandon(self, message: Any) -> None:
        await self.inner.abandon(message)

    async def dead_letter(self, message: Any, reason: str) -> None:
        await self.inner.dead_letter(message, reason)

    async def close(self) -> None:
        await self.inner.close()
        await self.credential.close()
