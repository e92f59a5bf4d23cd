"""Every Azure resource name the code uses, in one place. `infra/` creates exactly these (tests/infra checks it).

Changing a name here means changing the Bicep in the same commit; the agreement test fails otherwise.
"""

from __future__ import annotations

# Service Bus: events in, agent emissions out.
TOPIC_EVENTS = "aos-events"
TOPIC_OUTBOX = "aos-outbox"
SUBSCRIPTION_KERNEL = "aos-kernel"  # on TOPIC_EVENTS, read by the Functions trigger (AOS_SERVICEBUS_SUBSCRIPTION)
SUBSCRIPTION_EGRESS = "aos-egress"  # on TOPIC_OUTBOX, an example consumer of what agents emit

# Storage Queue: the cheaper transport carrying the same two flows.
QUEUE_EVENTS = "aos-events"
QUEUE_OUTBOX = "aos-outbox"

# Blob: payloads over 64 KiB, context archives, exports.
BLOB_CONTAINER_PAYLOADS = "aos-payloads"

# Cosmos DB (database AOS_COSMOS_DATABASE): container -> partition key path (DESIGN.md, "Storage map").
COSMOS_CONTAINERS: dict[str, str] = {
    "agents": "/tenant",
    "runtime": "/agentKey",
    "context": "/agentKey",
    "audit": "/tenant",
}
