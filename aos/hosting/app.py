"""The function app: every trigger AOS has in Azure, declared with the Python v2 programming model.

| function            | trigger                                            | does                                  |
| ------------------- | -------------------------------------------------- | ------------------------------------- |
| http                | HTTP `{*path}` (routePrefix ""), anonymous         | the FastAPI app: /api/..., /mcp/...   |
| servicebus_ingress  | Service Bus topic aos-events, %AOS_SERVICEBUS_SUBSCRIPTION% | CloudEvent → kernel.publish  |
| queue_ingress       | Storage queue aos-events (AzureWebJobsStorage)     | CloudEvent → kernel.publish           |
| eventgrid_ingress   | Event Grid (both schemas)                          | CloudEvent → kernel.publish           |
| scheduler_tick      | timer, every minute                                | kernel.tick (due cron wakes)          |
| self_heal_sweep     | timer, every 5 minutes                             | re-wake agents with unprocessed mail  |
| agent_orchestrator  | orchestration, one instance per agent              | the perpetual loop                    |
| agent_step          | activity                                           | one kernel step                       |
| agent_restart       | activity                                           | restart a failed agent (with budget)  |

HTTP auth level is anonymous: AOS authenticates every call itself (bearer API keys / Entra ID tokens).

Bad messages are never retried forever and never take other messages down (one message per invocation):
- Service Bus: the Python worker here has no message-settlement API (the SDK-type bindings that add one,
  `azurefunctions-extensions-bindings-servicebus`, are in beta), so a message that can never be accepted
  raises `PoisonMessage`; the host abandons it and Service Bus dead-letters it after the subscription's
  `maxDeliveryCount` with reason `MaxDeliveryCountExceeded`. The real reason is in the logs (with the
  message id), not in the dead-letter properties: a bad message costs maxDeliveryCount cheap parse failures.
- Storage queue: after host.json `queues.maxDequeueCount` failures the host moves it to `aos-events-poison`.
- Event Grid: its subscription's retry policy, then its dead-letter destination (set in infra).

Every invocation that changes agents ends by driving the durable client (`durable_client_input`): raising
`wake` on the orchestrations of agents that got mail, starting / terminating / purging them on lifecycle
changes. Work beyond declaring bindings is imported on first use (`aos.hosting.handlers`), for cold start.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from aos.hosting import orchestrator
from aos.hosting.instances import ORCHESTRATOR

EVENTS_TOPIC = "aos-events"
EVENTS_QUEUE = "aos-events"
SERVICEBUS_CONNECTION = "ServiceBusConnection"
QUEUE_CONNECTION = "AzureWebJobsStorage"
SUBSCRIPTION = "%AOS_SERVICEBUS_SUBSCRIPTION%"
TICK_SCHEDULE = "0 * * * * *"
SWEEP_SCHEDULE = "30 */5 * * * *"
HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def build_app() -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    _http(app)
    _ingress(app)
    _timers(app)
    _durable(app)
    return app


def _http(app: df.DFApp) -> None:
    @app.function_name("http")
    @app.route(route="{*path}", methods=HTTP_METHODS, auth_level=func.AuthLevel.ANONYMOUS)
    @app.durable_client_input(client_name="client")
    async def http(req: func.HttpRequest, context: func.Context, client: str) -> func.HttpResponse:
        from aos.hosting import handlers

        return await handlers.http(req, context, client)


def _ingress(app: df.DFApp) -> None:
    @app.function_name("servicebus_ingress")
    @app.service_bus_topic_trigger(arg_name="msg", topic_name=EVENTS_TOPIC, subscription_name=SUBSCRIPTION,
                                   connection=SERVICEBUS_CONNECTION, cardinality="one")
    @app.durable_client_input(client_name="client")
    async def servicebus_ingress(msg: func.ServiceBusMessage, client: str) -> None:
        from aos.hosting import handlers

        await handlers.service_bus(msg, client)

    @app.function_name("queue_ingress")
    @app.queue_trigger(arg_name="msg", queue_name=EVENTS_QUEUE, connection=QUEUE_CONNECTION)
    @app.durable_client_input(client_name="client")
    async def queue_ingress(msg: func.QueueMessage, client: str) -> None:
        from aos.hosting import handlers

        await handlers.queue(msg, client)

    @app.function_name("eventgrid_ingress")
    @app.event_grid_trigger(arg_name="event")
    @app.durable_client_input(client_name="client")
    async def eventgrid_ingress(event: func.EventGridEvent, client: str) -> None:
        from aos.hosting import handlers

        await handlers.event_grid(event, client)


def _timers(app: df.DFApp) -> None:
    @app.function_name("scheduler_tick")
    @app.timer_trigger(arg_name="timer", schedule=TICK_SCHEDULE, run_on_startup=False, use_monitor=True)
    @app.durable_client_input(client_name="client")
    async def scheduler_tick(timer: func.TimerRequest, client: str) -> None:
        from aos.hosting import handlers

        await handlers.tick(client)

    @app.function_name("self_heal_sweep")
    @app.timer_trigger(arg_name="timer", schedule=SWEEP_SCHEDULE, run_on_startup=False, use_monitor=True)
    @app.durable_client_input(client_name="client")
    async def self_heal_sweep(timer: func.TimerRequest, client: str) -> None:
        from aos.hosting import handlers

        await handlers.sweep(client)


def _durable(app: df.DFApp) -> None:
    app.function_name(ORCHESTRATOR)(
        app.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)(
            orchestrator.agent_orchestrator))

    @app.function_name(orchestrator.STEP_ACTIVITY)
    @app.activity_trigger(input_name="key", activity=orchestrator.STEP_ACTIVITY)
    @app.durable_client_input(client_name="client")
    async def agent_step(key: str, client: str) -> dict:  # type: ignore[type-arg]
        from aos.hosting import handlers

        return await handlers.agent_step(key, client)

    @app.function_name(orchestrator.RESTART_ACTIVITY)
    @app.activity_trigger(input_name="key", activity=orchestrator.RESTART_ACTIVITY)
    @app.durable_client_input(client_name="client")
    async def agent_restart(key: str, client: str) -> dict:  # type: ignore[type-arg]
        from aos.hosting import handlers

        return await handlers.agent_restart(key, client)
