"""Serve one agent's context over stdio against the embedded database (`aos mcp context AGENT`).

It opens `DIR/aos.db` and the blobs under `DIR/blobs`, where the embedded host keeps them. SQLite wants one
writer per file: run it while `aos up` is stopped, or point an IDE at the HTTP endpoint instead.
"""

from __future__ import annotations

from pathlib import Path

from mcp_servers.context.compaction import Budget
from mcp_servers.context.server import build_server


async def serve_stdio(
    data_dir: str | Path, tenant: str, agent_id: str, *, budget: Budget | None = None, noop_tool: bool = False
) -> None:
    """Serve until stdin closes; the database is closed (every write durable) on the way out."""
    from aos.adapters.embedded.blobs import FileBlobStore
    from aos.adapters.embedded.context_sqlite import SqliteContextStore
    from aos.adapters.embedded.sqlite import SqliteDatabase

    root = Path(data_dir)
    db = SqliteDatabase(root / "aos.db")
    store = SqliteContextStore(db, FileBlobStore(root / "blobs"))
    await db.start()
    try:
        await build_server(store, tenant, agent_id, budget=budget, noop_tool=noop_tool).run_stdio_async()
    finally:
        await db.close()
