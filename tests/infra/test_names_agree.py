"""Topic, subscription, queue, container and partition-key names in `infra/` match the ones the code uses.

Until the Azure adapters land (a later issue) the code side is the storage map of the shared DESIGN.md,
written out in `STORAGE_MAP` below. When `aos/adapters/azure/names.py` exists its constants are the code side
and must carry these names:

    TOPIC_EVENTS, TOPIC_OUTBOX              Service Bus topics
    SUBSCRIPTION_KERNEL, SUBSCRIPTION_EGRESS their subscriptions (on TOPIC_EVENTS, TOPIC_OUTBOX)
    BLOB_CONTAINER_PAYLOADS                 blob container for large payloads and exports
    COSMOS_CONTAINERS                       mapping container name -> partition key path
    QUEUE_*  (optional)                     Storage Queue transport queues

Every name the Bicep creates must be one the code uses, and the reverse.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from aos.config import SETTINGS
from tests.infra import bicep
from tests.infra.code_reads import FUNCTION_APP, bindings, function_app

NAMES_MODULE = bicep.ROOT / "aos" / "adapters" / "azure" / "names.py"
MODULES = bicep.INFRA / "modules"

# The storage map of DESIGN.md ("Storage map"), as the code will use it.
STORAGE_MAP: dict[str, Any] = {
    "topics": {"aos-events": {"aos-kernel"}, "aos-outbox": {"aos-egress"}},
    "cosmos_containers": {
        "agents": "/tenant",
        "runtime": "/agentKey",
        "context": "/agentKey",
        "audit": "/tenant",
    },
    "blob_containers": {"aos-payloads"},
    "queues": {"aos-events", "aos-outbox"},  # the Storage Queue alternative carries the same two flows
}
# Not in the storage map: the Event Grid example's source container (new blobs become AOS events) and the
# container Event Grid dead-letters undeliverable events into.
EVENT_GRID_CONTAINERS = {"aos-ingress", "aos-eventgrid-deadletter"}


def infra_names() -> dict[str, Any]:
    topics: dict[str, set[str]] = {
        t: set() for t in bicep.effective_param(MODULES / "servicebus.bicep", "topics")
    }
    for sub in bicep.effective_param(MODULES / "servicebus.bicep", "subscriptions"):
        assert sub["topic"] in topics, (
            f"subscription {sub['name']} is on {sub['topic']}, not a declared topic"
        )
        topics[sub["topic"]].add(sub["name"])
    containers = bicep.effective_param(MODULES / "cosmos.bicep", "containers")
    return {
        "topics": topics,
        "cosmos_containers": {c["name"]: c["partitionKey"] for c in containers},
        "cosmos_database": bicep.effective_param(MODULES / "cosmos.bicep", "databaseName"),
        "blob_containers": set(bicep.effective_param(MODULES / "storage.bicep", "blobContainerNames")),
        "queues": set(bicep.effective_param(MODULES / "storage.bicep", "queueNames")),
    }


def names_module_map(path: Path) -> dict[str, Any]:
    module = importlib.import_module("aos.adapters.azure.names")
    required = [
        "TOPIC_EVENTS",
        "TOPIC_OUTBOX",
        "SUBSCRIPTION_KERNEL",
        "SUBSCRIPTION_EGRESS",
        "BLOB_CONTAINER_PAYLOADS",
        "COSMOS_CONTAINERS",
    ]
    missing = [n for n in required if not hasattr(module, n)]
    assert not missing, f"{path} lacks {missing}; tests/infra/test_names_agree.py documents the contract"
    queues = {v for k, v in vars(module).items() if k.startswith("QUEUE_") and isinstance(v, str)}
    n = module
    return {
        "topics": {n.TOPIC_EVENTS: {n.SUBSCRIPTION_KERNEL}, n.TOPIC_OUTBOX: {n.SUBSCRIPTION_EGRESS}},
        "cosmos_containers": dict(n.COSMOS_CONTAINERS),
        "blob_containers": {n.BLOB_CONTAINER_PAYLOADS},
        "queues": queues or STORAGE_MAP["queues"],
    }


def code_names() -> dict[str, Any]:
    return names_module_map(NAMES_MODULE) if NAMES_MODULE.exists() else STORAGE_MAP


@pytest.mark.parametrize("kind", ["topics", "cosmos_containers", "queues"])
def test_infra_names_match_code(kind: str) -> None:
    assert infra_names()[kind] == code_names()[kind], f"{kind}: infra/ (left) differs from the code (right)"


def test_blob_containers_match_code() -> None:
    assert infra_names()["blob_containers"] == code_names()["blob_containers"] | EVENT_GRID_CONTAINERS


def test_cosmos_database_matches_config_default() -> None:
    default = next(s.default for s in SETTINGS if s.name == "AOS_COSMOS_DATABASE")
    assert infra_names()["cosmos_database"] == default


def test_task_hub_default_matches_config_default() -> None:
    default = next(s.default for s in SETTINGS if s.name == "AOS_TASK_HUB")
    assert bicep.parameters(bicep.MAIN)["taskHubName"]["default"] == default


def test_function_app_bindings_use_provisioned_names() -> None:
    """Literal topic / subscription / queue / container names in bindings must exist in infra/; `%NAME%`
    expressions are settings, checked by test_settings_agree.py."""
    if not FUNCTION_APP.exists():
        pytest.skip("no function_app.py yet: nothing binds to a name")
    infra = infra_names()
    known = {
        "topicName": set(infra["topics"]),
        "subscriptionName": set().union(*infra["topics"].values()),
        "queueName": infra["queues"],
        "containerName": set(infra["cosmos_containers"]),
        "databaseName": {infra["cosmos_database"]},
    }
    wrong = []
    for fn, binding in bindings(function_app()):
        for key, allowed in known.items():
            value = binding.get(key)
            if isinstance(value, str) and "%" not in value and value not in allowed:
                wrong.append(f"{fn}: {binding.get('type')} {key}={value!r} not in infra/ ({sorted(allowed)})")
    assert not wrong, "bindings name resources infra/ does not create:\n  " + "\n  ".join(wrong)


def test_event_grid_subscription_targets_an_event_grid_trigger() -> None:
    name = bicep.parameters(bicep.MAIN)["eventGridFunctionName"]["default"]
    assert name == "eventgrid_ingress"
    if not FUNCTION_APP.exists():
        pytest.skip("no function_app.py yet: the Event Grid trigger is written with the function app")
    triggers = {fn for fn, b in bindings(function_app()) if b.get("type") == "eventGridTrigger"}
    assert name in triggers, (
        f"infra/ delivers Event Grid events to function {name!r}; Event Grid triggers: {triggers}"
    )
