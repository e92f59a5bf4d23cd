"""The bodies of the Functions triggers: each opens the process's system, runs kernel calls inside
`collecting()`, and applies the collected wakes / lifecycle changes through its own durable client.

Imported on the first invocation, not at start-up: FastAPI, pydantic models, the kernel and the storage
adapters stay out of the cold-start import path of `function_app.py`.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from aos.hosting import activities
from aos.hosting.instances import DurableClientOrchestrations, Orchestrations
from aos.hosting.intents import apply, collecting
from aos.hosting.system import hosted_system
from aos.inbound import PoisonMessage, from_body, from_event_grid, from_service_bus, publish_all

log = logging.getLogger("aos.hosting")
_http: dict[int, Any] = {}


def _orchestrations(client: Any) -> Orchestrations:
    return client if isinstance(client, Orchestrations) else DurableClientOrchestrations(client)


async def http(req: func.HttpRequest, context: Any, client: Any) -> func.HttpResponse:
    """Hand the request to the shared FastAPI app; then tell the durable side what the call changed."""
    system = await hosted_system(watch=False)
    middleware = _http.get(id(system))
    if middleware is None:
        from aos.api import create_app

        _http.clear()
        middleware = _http[id(system)] = func.AsgiMiddleware(create_app(system))
    system.runtime.watch_loop()  # booted, app included (see `hosted_system`)
    with collecting() as intents:
        response: func.HttpResponse = await middleware.handle_async(req, context)
    await apply(intents, _orchestrations(client))
    return response


async def _ingest(parse: Any, where: str, client: Any) -> list[str]:
    system = await hosted_system()
    try:
        items = parse(system.config.default_tenant)
        with collecting() as intents:
            ids = await publish_all(system.kernel, items)
    except PoisonMessage as e:
        log.error("dead-lettering after the delivery limit: %s", e.detail)
        raise
    await apply(intents, _orchestrations(client))
    log.info("%s: published %s", where, ", ".join(ids))
    return ids


async def service_bus(msg: func.ServiceBusMessage, client: Any) -> list[str]:
    where = f"service bus message {msg.message_id} (delivery {msg.delivery_count})"
    return await _ingest(
        lambda tenant: from_service_bus(msg.get_body(), msg.application_properties or {}, msg.content_type,
                                        tenant, where), where, client)


async def queue(msg: func.QueueMessage, client: Any) -> list[str]:
    where = f"queue message {msg.id} (dequeue {msg.dequeue_count})"
    return await _ingest(lambda tenant: from_body(msg.get_body(), tenant, where), where, client)


async def event_grid(event: Any, client: Any) -> list[str]:
    where = f"event grid event {event.id}"
    return await _ingest(lambda tenant: [from_event_grid(event, tenant)], where, client)


async def tick(client: Any) -> list[str]:
    system = await hosted_system()
    with collecting() as intents:
        woken = await system.kernel.tick()
    await apply(intents, _orchestrations(client))
    return woken


async def sweep(client: Any) -> dict[str, str]:
    """Re-wake active agents with mail: a live orchestration gets `wake` (a spare one costs one empty
    step), a missing, completed or failed one is started."""
    system = await hosted_system()
    with collecting() as intents:
        await system.kernel.sweep()
    done = await apply(intents, _orchestrations(client))
    if done:
        log.info("sweep re-woke %d agent(s)", len(done))
    return done


async def agent_step(key: str, client: Any) -> dict[str, Any]:
    system = await hosted_system()
    with collecting() as intents:
        report = await activities.agent_step(system.kernel, key, budget=system.config.restart_budget,
                                             backoff_s=system.config.restart_backoff_s)
    intents.discard(key)  # this agent's own orchestration is looping already
    await apply(intents, _orchestrations(client))
    return report


async def agent_restart(key: str, client: Any) -> dict[str, Any]:
    system = await hosted_system()
    with collecting() as intents:
        result = await activities.agent_restart(system.kernel, key, budget=system.config.restart_budget)
    intents.discard(key)
    await apply(intents, _orchestrations(client))
    return result
