"""Wire the Cosmos adapters into an `aos.ports.Stores` bundle.

`cosmos_stores(cosmos, blobs, clock)` builds the bundle on an open `Cosmos`; `open_cosmos(...)` connects first.
Credentials: in Azure, `DefaultAzureCredential` (azure.identity.aio: managed identity) against the account
endpoint from `CosmosConnection__accountEndpoint` (`Config.require` raises `NotConfigured` naming it when unset).
An account key is accepted only together with `emulator=True`: a deployed app can never fall back to a key.
"""

from __future__ import annotations

from typing import Any

from aos.adapters.azure.cosmos.auth import CosmosIdempotencyStore, CosmosKeyStore
from aos.adapters.azure.cosmos.client import SdkCosmosApi
from aos.adapters.azure.cosmos.context import CosmosContextStore
from aos.adapters.azure.cosmos.governance import cosmos_governance
from aos.adapters.azure.cosmos.mailbox import CosmosMailbox
from aos.adapters.azure.cosmos.ops import Cosmos
from aos.adapters.azure.cosmos.registry import CosmosAgentRegistry
from aos.adapters.azure.cosmos.state import CosmosStateStore
from aos.adapters.azure.names import COSMOS_CONTAINERS
from aos.ports import BlobStore, Clock, Stores


def cosmos_stores(cosmos: Cosmos, blobs: BlobStore, clock: Clock) -> Stores:
    """Every Cosmos-backed port on one `Cosmos`; `Stores.close` closes the client (and the credential)."""
    return Stores(
        registry=CosmosAgentRegistry(cosmos),
        mailbox=CosmosMailbox(cosmos, clock),
        state=CosmosStateStore(cosmos),
        blobs=blobs,
        keys=CosmosKeyStore(cosmos),
        idempotency=CosmosIdempotencyStore(cosmos),
        clock=clock,
        close=cosmos.close,
        context=CosmosContextStore(cosmos, blobs),
        governance=cosmos_governance(cosmos),
    )


async def open_cosmos(
    endpoint: str,
    database: str,
    *,
    key: str | None = None,
    emulator: bool = False,
    create_containers: bool = False,
    **client_kwargs: Any,
) -> Cosmos:
    """Connect to `database` at `endpoint`.

    Without `emulator`, the credential is `DefaultAzureCredential` and `key` must be None. With `emulator=True`
    (tests, `azure-local`), `key` is the emulator's account key. `create_containers` creates the database and
    the containers of `names.COSMOS_CONTAINERS` when missing (emulators; in Azure, infra/ creates them and the
    app's identity has no right to).
    """
    if key is not None and not emulator:
        raise ValueError("an account key is only for the Cosmos emulator: in Azure, use the managed identity")
    if emulator:
        if key is None:
            raise ValueError("the Cosmos emulator needs its account key")
        credential: Any = key
    else:
        from azure.identity.aio import DefaultAzureCredential  # lazy: embedded runs never load azure-identity

        credential = DefaultAzureCredential()
    api = SdkCosmosApi.connect(endpoint, database, credential=credential, emulator=emulator, **client_kwargs)
    if create_containers:
        try:
            await api.create_containers(COSMOS_CONTAINERS)
        except BaseException:
            await api.close()
            raise
    return Cosmos(api)


async def open_cosmos_from_config(config: Any, *, emulator_endpoint: str | None = None,
                                  emulator_key: str | None = None) -> Cosmos:
    """The Cosmos of a `Config`: `CosmosConnection__accountEndpoint` + managed identity, or the emulator at
    `emulator_endpoint` with `emulator_key` (the `azure-local` backend passes the emulator it started)."""
    if emulator_endpoint is not None:
        return await open_cosmos(emulator_endpoint, config.cosmos_database, key=emulator_key, emulator=True,
                                 create_containers=True)
    return await open_cosmos(config.require("CosmosConnection__accountEndpoint"), config.cosmos_database)
