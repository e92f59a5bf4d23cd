"""Embedded adapters: SQLite (one file, one writer thread, group commit), in-memory, and files for blobs.

`open_sqlite(data_dir)` is what `aos up` uses; `open_memory()` is for tests and throwaway runs.
"""

from aos.adapters.embedded.blobs import FileBlobStore, MemoryBlobStore
from aos.adapters.embedded.clock import ManualClock, SystemClock
from aos.adapters.embedded.memory import (
    MemoryAgentRegistry,
    MemoryIdempotencyStore,
    MemoryKeyStore,
    MemoryMailbox,
    MemoryStateStore,
)
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.adapters.embedded.sqlite_auth import SqliteIdempotencyStore, SqliteKeyStore
from aos.adapters.embedded.sqlite_mailbox import SqliteMailbox
from aos.adapters.embedded.sqlite_registry import SqliteAgentRegistry
from aos.adapters.embedded.sqlite_state import SqliteStateStore
from aos.adapters.embedded.stores import open_memory, open_sqlite, sqlite_stores

__all__ = [
    "FileBlobStore",
    "ManualClock",
    "MemoryAgentRegistry",
    "MemoryBlobStore",
    "MemoryIdempotencyStore",
    "MemoryKeyStore",
    "MemoryMailbox",
    "MemoryStateStore",
    "SqliteAgentRegistry",
    "SqliteDatabase",
    "SqliteIdempotencyStore",
    "SqliteKeyStore",
    "SqliteMailbox",
    "SqliteStateStore",
    "SystemClock",
    "open_memory",
    "open_sqlite",
    "sqlite_stores",
]
