"""A tiny Functions v2 app used only to prove the binding collector in code_reads.py reads what the host
would: connections, `%NAME%` expressions, function names. Not a real AOS app."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.service_bus_topic_trigger(
    arg_name="msg",
    topic_name="%SAMPLE_TOPIC%",
    subscription_name="aos-kernel",
    connection="ServiceBusConnection",
)
def sb_ingress(msg: func.ServiceBusMessage) -> None:
    del msg


@app.event_grid_trigger(arg_name="event")
def eventgrid_ingress(event: func.EventGridEvent) -> None:
    del event


@app.orchestration_trigger(context_name="context")
def agent(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    yield context.call_activity("noop", None)
