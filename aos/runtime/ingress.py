"""The embedded host's ingress poller: events from a broker (`aos-events`) into `kernel.publish`.

One task receives batches from an `EventTransport` and, per message, decodes it exactly as the Functions
queue / Service Bus triggers do (`aos.inbound`: one CloudEvent or a JSON array of them; tenant from the
`aostenant` extension, else `AOS_DEFAULT_TENANT`), publishes, then settles:
- accepted (or a duplicate: publish is idempotent on the event id) → complete;
- can never be accepted (not JSON, not a CloudEvent, bad tenant, unknown or retired target) → dead-letter with
  the reason;
- anything else (storage down) → abandon, so it comes back; after `max_deliveries` it is dead-lettered.
A message is completed only after its events are durably accepted (invariant 1). When the transport is empty
the poller waits `idle_s` (doubling to `max_idle_s`) before asking again; Service Bus receives already wait
server-side.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aos.errors import AosError, Conflict
from aos.inbound import PoisonMessage, from_body, publish_all
from aos.ports import EventTransport, TransportMessage

log = logging.getLogger("aos.ingress")


class IngressPoller:
    def __init__(self, kernel: Any, transport: EventTransport, default_tenant: str, *, batch: int = 32,
                 visibility_timeout_s: float = 30.0, max_deliveries: int = 5, idle_s: float = 0.05,
                 max_idle_s: float = 1.0) -> None:
        self.kernel = kernel
        self.transport = transport
        self.default_tenant = default_tenant
        self.batch = batch
        self.visibility_timeout_s = visibility_timeout_s
        self.max_deliveries = max_deliveries
        self.idle_s, self.max_idle_s = idle_s, max_idle_s
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.accepted = 0
        self.dead_lettered = 0

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("already started")
        self._task = asyncio.create_task(self._run(), name="aos-ingress")

    async def shutdown(self) -> None:
        """Idempotent: stops polling; a message being handled is settled by the broker's lock expiry."""
        if self._task is None or self._stopped:
            return
        self._stopped = True
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        idle = self.idle_s
        while True:
            try:
                messages = await self.transport.receive(self.batch, self.visibility_timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ingress receive failed; retrying in %.1fs", self.max_idle_s)
                await asyncio.sleep(self.max_idle_s)
                continue
            for message in messages:
                await self.handle(message)
            if messages:
                idle = self.idle_s
            else:
                await asyncio.sleep(idle)
                idle = min(idle * 2, self.max_idle_s)

    async def handle(self, message: TransportMessage) -> None:
        """Publish one message's events and settle it (see the module docstring)."""
        where = f"message {message.message_id} (delivery {message.delivery_count})"
        try:
            items = from_body(message.body, self.default_tenant, where,
                              str(message.properties.get("aostenant") or "") or None)
            await publish_all(self.kernel, items)
        except PoisonMessage as e:
            await self._settle(self.transport.dead_letter(message, e.detail), message)
            self.dead_lettered += 1
            log.warning("ingress dead-lettered %s: %s", where, e.detail)
            return
        except (AosError, OSError, TimeoutError) as e:
            if message.delivery_count >= self.max_deliveries:
                reason = f"gave up after {message.delivery_count} deliveries: {e}"
                await self._settle(self.transport.dead_letter(message, reason), message)
                self.dead_lettered += 1
            else:
                log.warning("ingress %s not accepted yet (%s); it will be delivered again", where, e)
                await self._settle(self.transport.abandon(message), message)
            return
        await self._settle(self.transport.complete(message), message)
        self.accepted += len(items)

    async def _settle(self, call: Any, message: TransportMessage) -> None:
        try:
            await call
        except Conflict:
            log.info("ingress message %s: lock lost before settling; it is delivered again (publish dedupes)",
                     message.message_id)
        except AosError:
            log.exception("ingress message %s could not be settled; the broker redelivers it", message.message_id)
