"""Azure adapters of the ports: Cosmos DB, Blob, Table, Storage Queue, Service Bus, Key Vault.

Each adapter has two layers (STYLE.md): the port implementation, and a thin interface over just the SDK calls it
needs, so tests can put a fault-injecting fake at the SDK boundary. Resource names live in `names.py`.
"""
