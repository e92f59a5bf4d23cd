"""What the Functions host indexes from `function_app.py`: every function with its binding JSON."""

from __future__ import annotations

import json
from typing import Any

from aos.config import SETTINGS

CLIENT = {"direction": "IN", "type": "durableClient", "name": "client"}
EXPECTED: dict[str, list[dict[str, Any]]] = {
    "http": [CLIENT,
             {"direction": "IN", "type": "httpTrigger", "name": "req", "authLevel": "ANONYMOUS", "route": "{*path}",
              "methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]},
             {"direction": "OUT", "type": "http", "name": "$return"}],
    "servicebus_ingress": [CLIENT, {
        "direction": "IN", "type": "serviceBusTrigger", "name": "msg", "connection": "ServiceBusConnection",
        "topicName": "aos-events", "subscriptionName": "%AOS_SERVICEBUS_SUBSCRIPTION%", "cardinality": "ONE"}],
    "queue_ingress": [CLIENT, {"direction": "IN", "type": "queueTrigger", "name": "msg", "queueName": "aos-events",
                               "connection": "AzureWebJobsStorage"}],
    "eventgrid_ingress": [CLIENT, {"direction": "IN", "type": "eventGridTrigger", "name": "event"}],
    "scheduler_tick": [CLIENT, {"direction": "IN", "type": "timerTrigger", "name": "timer",
                                "schedule": "0 * * * * *", "runOnStartup": False, "useMonitor": True}],
    "self_heal_sweep": [CLIENT, {"direction": "IN", "type": "timerTrigger", "name": "timer",
                                 "schedule": "30 */5 * * * *", "runOnStartup": False, "useMonitor": True}],
    "agent_orchestrator": [{"direction": "IN", "type": "orchestrationTrigger", "name": "context",
                            "orchestration": "agent_orchestrator"}],
    "agent_step": [CLIENT, {"direction": "IN", "type": "activityTrigger", "name": "key", "activity": "agent_step"}],
    "agent_restart": [CLIENT, {"direction": "IN", "type": "activityTrigger", "name": "key",
                               "activity": "agent_restart"}],
}


def test_every_function_and_its_bindings(functions: dict[str, Any]) -> None:
    found = {name: json.loads(f.get_function_json())["bindings"] for name, f in functions.items()}
    assert set(found) == set(EXPECTED)
    for name, bindings in EXPECTED.items():
        key = lambda b: b["name"]
        assert sorted(found[name], key=key) == sorted(bindings, key=key), name


def test_binding_expressions_name_settings_that_exist(functions: dict[str, Any]) -> None:
    names = {s.name for s in SETTINGS}
    for f in functions.values():
        for binding in json.loads(f.get_function_json())["bindings"]:
            for value in binding.values():
                if isinstance(value, str) and value.startswith("%"):
                    assert value.strip("%") in names, f"{value} is read but not in aos.config.SETTINGS"


def test_user_functions_are_async_and_orchestrator_is_a_generator(functions: dict[str, Any]) -> None:
    import inspect

    from aos.hosting.orchestrator import agent_orchestrator

    for name, f in functions.items():
        code = f.get_user_function()
        if name == "agent_orchestrator":
            assert code.orchestrator_function is agent_orchestrator
            assert inspect.isgeneratorfunction(agent_orchestrator)
        else:
            assert inspect.iscoroutinefunction(code), f"{name} blocks the worker's event loop"
