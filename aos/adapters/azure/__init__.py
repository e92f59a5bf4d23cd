"""Azure adapters of the ports: Cosmos DB, Blob, Table, Storage Queue, Service Bus, Key Vault.

Each adapter has two layers (STYLE.md): the port implementation, and a thin interface over just the SDK calls it
needs, so tests can put a fault-injecting fake at the SDK boundary. Resource names live in `names.py`.

- `cosmos/`: every Stores port on Cosmos DB (`cosmos_stores`).
- `blob.py`: `AzureBlobStore` (container `aos-payloads`, SHA-256 checked on read) over `BlobApi`.
- `tables/`: `TableAgentRegistry`, `TableStateStore`: the lighter option for small installs, over `TableApi`.
- `queue.py`: `StorageQueueTransport` (`EventTransport` on queues `aos-events` / `aos-outbox`) over `QueueApi`.
- `servicebus.py`: `ServiceBusTransport` (topics `aos-events` / `aos-outbox`) over `ServiceBusApi`.
- `keyvault.py`: `KeyVaultResolver` for `@keyvault:NAME` references, over `SecretsApi`.
- `credentials.py`: Functions-style settings → endpoints; `DefaultAzureCredential` unless on emulators.
- `factory/`: `open_azure` (the `azure` / `azure-local` backends), `open_ingress`, the egress hook, emulators.

Nothing is imported here: the SDKs load only when a backend that uses them is opened.
"""
