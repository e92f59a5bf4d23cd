"""Factories that wire one embedded backend into an `aos.ports.Stores` bundle.

SQLite: every adapter shares one `SqliteDatabase` (one writer thread, group commit) on `<data_dir>/aos.db`,
and blobs are files under `<data_dir>/blobs`. To add adapters on the same database (the ContextStore does),
build the database and the stores with `sqlite_stores`, register the extra adapters, then `await db.start()`.
"""

from __future__ import annotations

from pathlib import Path

from aos.adapters.embedded.blobs import FileBlobStore, MemoryBlobStore
from aos.adapters.embedded.clock import SystemClock
from aos.adapters.embedded.context_memory import MemoryContextStore
from aos.adapters.embedded.context_sqlite import SqliteContextStore
from aos.adapters.embedded.memory import (
    MemoryAgentRegistry,
    MemoryIdempotencyStore,
    MemoryKeyStore,
    MemoryMailbox,
    MemoryStateStore,
)
from aos.adapters.embedded.memory_governance import memory_governance
from aos.adapters.embedded.sqlite import SqliteDatabase
from aos.adapters.embedded.sqlite_auth import SqliteIdempotencyStore, SqliteKeyStore
from aos.adapters.embedded.sqlite_governance import sqlite_governance
from aos.adapters.embedded.sqlite_mailbox import SqliteMailbox
from aos.adapters.embedded.sqlite_registry import SqliteAgentRegistry
from aos.adapters.embedded.sqlite_state import SqliteStateStore
from aos.ports import Clock, Stores

DB_FILE = "aos.db"
BLOBS_DIR = "blobs"


def sqlite_stores(db: SqliteDatabase, data_dir: Path, clock: Clock | None = None) -> Stores:
    """Build the SQLite adapters on `db` (not started yet: their schemas register now, run at `start`)."""
    clock = clock or SystemClock()
    blobs = FileBlobStore(Path(data_dir) / BLOBS_DIR)
    return Stores(
        registry=SqliteAgentRegistry(db),
        mailbox=SqliteMailbox(db, clock),
        state=SqliteStateStore(db),
        blobs=blobs,
        keys=SqliteKeyStore(db),
        idempotency=SqliteIdempotencyStore(db),
        clock=clock,
        close=db.close,
        context=SqliteContextStore(db, blobs),
        governance=sqlite_governance(db),
    )


async def open_sqlite(data_dir: Path, *, clock: Clock | None = None, synchronous: str = "NORMAL") -> Stores:
    """Open (creating if needed) the embedded store under `data_dir`; `Stores.close` closes the database.

    `synchronous="NORMAL"` survives a process crash; pass "FULL" to also survive power loss.
    """
    db = SqliteDatabase(Path(data_dir) / DB_FILE, synchronous=synchronous)
    stores = sqlite_stores(db, Path(data_dir), clock)
    await db.start()
    return stores


def open_memory(clock: Clock | None = None) -> Stores:
    """In-memory stores: nothing is durable (see `aos.adapters.embedded.memory`, Limitations)."""
    clock = clock or SystemClock()

    async def close() -> None:
        return None

    blobs = MemoryBlobStore()
    return Stores(
        registry=MemoryAgentRegistry(),
        mailbox=MemoryMailbox(clock),
        state=MemoryStateStore(),
        blobs=blobs,
        keys=MemoryKeyStore(),
        idempotency=MemoryIdempotencyStore(),
        clock=clock,
        close=close,
        context=MemoryContextStore(blobs),
        governance=memory_governance(),
    )
