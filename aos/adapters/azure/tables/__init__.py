"""Azure Table Storage adapters: a lighter AgentRegistry and StateStore for small installs (no Cosmos account).

`TableApi` is the thin interface over the SDK calls used; `open_table` builds it on a `StorageTarget`.
"""

from aos.adapters.azure.tables.api import SdkTableApi, TableApi, TableOp, open_table
from aos.adapters.azure.tables.registry import TableAgentRegistry
from aos.adapters.azure.tables.state import TableStateStore

__all__ = ["SdkTableApi", "TableAgentRegistry", "TableApi", "TableOp", "TableStateStore", "open_table"]
