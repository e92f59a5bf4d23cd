"""Cosmos DB adapters of the ports (`azure.cosmos.aio`): registry, mailbox + step journal, state, API keys,
idempotency, context, governance (audit, policies, usage, approvals: `governance/`). Layout (containers,
partition keys, ids): `keys.py`; the SDK seam: `client.py`; retries, timeouts and error naming: `ops.py`.
"""

from aos.adapters.azure.cosmos.auth import CosmosIdempotencyStore, CosmosKeyStore
from aos.adapters.azure.cosmos.client import CosmosApi, SdkCosmosApi
from aos.adapters.azure.cosmos.context import CosmosContextStore
from aos.adapters.azure.cosmos.mailbox import CosmosMailbox
from aos.adapters.azure.cosmos.ops import Cosmos
from aos.adapters.azure.cosmos.registry import CosmosAgentRegistry
from aos.adapters.azure.cosmos.state import CosmosStateStore
from aos.adapters.azure.cosmos.stores import cosmos_stores, open_cosmos, open_cosmos_from_config

__all__ = [
    "Cosmos",
    "CosmosAgentRegistry",
    "CosmosApi",
    "CosmosContextStore",
    "CosmosIdempotencyStore",
    "CosmosKeyStore",
    "CosmosMailbox",
    "CosmosStateStore",
    "SdkCosmosApi",
    "cosmos_stores",
    "open_cosmos",
    "open_cosmos_from_config",
]
