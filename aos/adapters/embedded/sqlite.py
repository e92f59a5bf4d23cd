"""One SQLite database file with one writer connection and group commit.

Why: SQLite allows one writer at a time, and two writers on one file stall each other in busy-waits (DESIGN.md
measured 1.6 s stalls). So every adapter of a process shares one `SqliteDatabase`; each operation is a plain
function of a `sqlite3.Connection` queued to the writer thread. The thread drains the queue, runs every queued
operation in one transaction, commits the whole batch once, then wakes all the callers. A failing operation
rolls back alone: the batch is rolled back and run again with one SAVEPOINT per operation, so operations must
be re-runnable (plain functions of the connection and of values they captured). Under load one commit covers
hundreds of operations: that is how AOS stays well ahead of one-commit-per-row engines.

Durability: WAL mode. `synchronous=NORMAL` (the default here) survives a process crash, which is the failure
AOS promises to survive on one machine; `synchronous=FULL` also survives power loss, at a cost per commit.

Checkpoints (copying the WAL back into the database file, with its fsyncs) run on a second thread with its own
connection, every `checkpoint_every` commits and once a second while there is anything to copy, instead of inside
whichever COMMIT crossed SQLite's 1,000-page mark. Why: that checkpoint stalled the writer, and every caller
waiting on it, for milliseconds (half the writer's commit time in `bench/wakes.py`). A passive checkpoint never
blocks the writer; a commit is as durable as before, since it is in the WAL when its callers wake.

The WAL is restarted (written from its start again) once it passes `wal_limit` (256 MiB): the checkpointer catches
up with passive checkpoints until one finds little to copy, then has the writer checkpoint the rest between two of
its transactions (with `RESTART`, which lets SQLite write the WAL from its start again). Why: SQLite restarts the
WAL only when a write transaction begins with all of it copied, which under steady load never happened (passive
checkpoints copy what was there when they began, and the writer commits on meanwhile), so the WAL grew without end:
1 GB in 20 s of `bench/wakes.py` at 1,000 events/s, with every commit extending the file (BEGIN went from 55 to 15
µs once it was bounded). The writer's checkpoint copies what the last catch-up left and syncs it: under 5 ms in 14
of 17 restarts measured here, 29-42 ms in the other 3 (a slow fsync); inline, the loop waits for it. Why the writer
does it: when the checkpointer thread did the same with the writer paused, the pause lasted 7-36 ms under load, the
thread waiting for the GIL (held by the busy loop) each time SQLite gave it back. Why 256 MiB: at 64 MiB the
restart came every 1.3 s at 1,000 events/s, often enough to set the p99 latency. `journal_size_limit` cuts the file
back to `wal_limit` at a restart.

Writes that many operations make to the same rows (a tenant's audit chain head, its usage totals) can `join`
one operation per group commit instead of each taking their own.

When the inline writer commits: once the event loop has nothing else ready to run, or `max_delay` (1 ms) after
the first operation of the batch, or once `full_batch` (64) operations wait, whichever comes first; and when
the last group commit held more than one operation (other writers are active), not before `linger` (0.5 ms)
after the first operation either. Why: a COMMIT costs ~100-300 µs of CPU here (every page the batch dirtied
written to the WAL, two syscalls a page), so at moderate load, where steps arrive one by one, committing each
round trip alone spent most of the CPU on commits. Waiting while other ready callbacks queue their writes lets
them share one (commits per event at 800-1,000 events/s: 1.5-2.8 → 0.15-0.6); lingering a little when there
is concurrency cut the CPU per event at 1,000 events/s by about a quarter (bench/wakes.py: ~1,000 → ~750 µs),
which is what keeps the p99 latency low there. A lone writer (one operation per commit, as a single client's
calls) never lingers, and an idle loop pays no delay. The loop's run queue is asyncio's `_ready`; on a loop
without one (uvloop) only the linger applies.

Where the writer runs (`mode`): with `synchronous=NORMAL` the default is `inline`: the connection lives on the
event loop's thread, and operations queued during one pass of the loop run as one transaction in a callback
scheduled right after it. Why: in WAL mode with NORMAL sync a COMMIT appends to the WAL through the OS page
cache and never waits for the disk (the fsyncs are the checkpointer's, on its own thread), so a batch costs
tens of microseconds of CPU; handing every operation to a thread and back cost more than the work itself, in
GIL hand-offs (bench/wakes.py measured the thread writer at roughly half the throughput). `mode="thread"` (the
default with `synchronous=FULL`, whose every COMMIT waits for an fsync) keeps the writer on its own thread so
the event loop never blocks on the disk.

Limitations: one process per file (a second process would be a second writer); reads run on the writer
thread too, so a long read delays writes. Operations must be short and must not call back into asyncio.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from aos.errors import AosError, StorageError

T = TypeVar("T")
log = logging.getLogger("aos.sqlite")
_STOP = object()
_RESTART = object()
_CATCH_UP_ROUNDS = 8  # passive checkpoints at most before a WAL restart (see `_restart_wal`)
_SHORT_ROUND_S = 0.002  # a catch-up round this short leaves little for the restart


class SqliteDatabase:
    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        max_batch: int = 2048,
        checkpoint_every: int = 256,
        mode: str | None = None,
        max_delay: float = 0.001,
        full_batch: int = 64,
        linger: float = 0.0005,
        wal_limit: int = 256 * 1024 * 1024,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        mode = mode or ("inline" if synchronous == "NORMAL" else "thread")
        if mode not in ("inline", "thread"):
            raise ValueError("mode must be inline or thread")
        self.mode = mode
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[Any, Any]] = []
        self._deferred: dict[str, list[tuple[Any, ...]]] = {}
        self._joins: dict[Hashable, tuple[asyncio.Future[Any], list[Any]]] = {}
        self._joins_lock = threading.Lock()
        self._flush_scheduled = False
        self._first_pending = 0.0
        self._max_delay = max_delay
        self._full_batch = full_batch
        self._linger = min(linger, max_delay)
        self._last_batch = 0  # operations in the last group commit
        self.path = Path(path)
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._schemas: list[str] = []
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._dead: BaseException | None = None
        self._checkpoint_every = checkpoint_every
        self._wal_limit = wal_limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self.wal_restarts = 0
        self._checkpoint_wanted = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self.commits = 0
        self.operations = 0
        self.checkpoints = 0

    def add_schema(self, ddl: str) -> None:
        """Register DDL (idempotent statements: CREATE ... IF NOT EXISTS) to run at start."""
        if self._thread is not None:
            raise RuntimeError("add_schema must be called before start()")
        if ddl not in self._schemas:
            self._schemas.append(ddl)

    async def start(self) -> None:
        if self._thread is not None or self._conn is not None:
            raise RuntimeError("already started")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.mode == "inline":
            self._loop = asyncio.get_running_loop()
            try:
                self._conn = self._open()
            except sqlite3.Error as e:
                raise StorageError(f"cannot open SQLite database at {self.path}: {e}") from e
            self._start_checkpointer()
            return
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        loop = self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, args=(loop, ready), name="aos-sqlite", daemon=True)
        self._thread.start()
        await ready
        self._start_checkpointer()

    def _start_checkpointer(self) -> None:
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="aos-sqlite-checkpoint", daemon=True)
        self._checkpointer.start()

    async def close(self) -> None:
        """Finish queued operations, then close. Idempotent."""
        if (self._thread is None and self._conn is None) or self._closed:
            return
        self._closed = True
        self._checkpoint_wanted.set()
        if self._checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._checkpointer.join)
        if self._conn is not None:
            self._flush()
            self._conn.close()  # the last connection's close checkpoints what is left
            self._conn = None
            return
        self._queue.put(_STOP)  # the writer's close, the last connection's, checkpoints what is left
        writer = cast(threading.Thread, self._thread)  # started, and not inline (no `_conn`): it is set
        await asyncio.get_running_loop().run_in_executor(None, writer.join)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in the next group commit; durable on return. Errors roll back `fn` alone."""
        return await self.submit(fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the writer thread: it sees every write queued before it (deferred ones included)."""

        def after_deferred(conn: sqlite3.Connection) -> T:
            self.flush_deferred(conn)
            return fn(conn)

        return await self.submit(after_deferred)

    def defer(self, sql: str, params: tuple[Any, ...]) -> None:
        """From inside an operation: run `sql` with `params` at the end of this group commit, batched with the
        same statement of the other operations (one `executemany`), before COMMIT.

        Why: an FTS5 insert followed by any other write in the transaction makes FTS5 write its pending terms
        out as a new index segment, so a batch of steps that each append a context entry wrote one segment
        per step. Deferred, a batch writes one. A deferred statement belongs to the operation that queued it:
        if it fails, that operation fails alone. Reads (`read`) and operations that call `flush_deferred`
        first see every deferred write queued before them.
        """
        self._deferred.setdefault(sql, []).append(params)

    def flush_deferred(self, conn: sqlite3.Connection) -> None:
        """Run the deferred statements queued so far, now (see `defer`)."""
        if self._deferred:
            work, self._deferred = self._deferred, {}
            for sql, rows in work.items():
                conn.executemany(sql, rows)

    def join(
        self, key: Hashable, item: Any, run: Callable[[sqlite3.Connection, list[Any]], list[T]]
    ) -> tuple[asyncio.Future[list[T]], int]:
        """Add `item` to the one operation of the next group commit for `key` (queued by the first item):
        `run(conn, items)` gets every item joined under `key` before it runs and returns one result per item,
        in order. Returns that operation's future and the index of this item's result.

        Why: writes that many steps make to the same rows, like each tenant's audit chain head and usage
        totals, are cheaper as one statement per batch than one per step (bench/wakes.py). The joined items
        share one operation, so they stand or fall together.
        """
        with self._joins_lock:
            joined = self._joins.get(key)
            if joined is None:
                items: list[Any] = []

                def op(conn: sqlite3.Connection) -> list[T]:
                    with self._joins_lock:  # from here on, items for `key` go to the next operation
                        if key in self._joins and self._joins[key][1] is items:
                            del self._joins[key]
                    return run(conn, items)

                joined = self._joins[key] = (self.submit(op), items)
            joined[1].append(item)
            return joined[0], len(joined[1]) - 1

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue `fn` now (synchronously) and return the future of its result.

        Why a plain function: operations queued by one synchronous stretch of code are queued in that order,
        before anything else can run, which lets a caller (or a test) know what shares a group commit.
        """
        if self._thread is None and self._conn is None:
            if self._closed:
                raise StorageError(f"database {self.path} is closed")
            raise RuntimeError("database not started")
        if self._closed:
            raise StorageError(f"database {self.path} is closed")
        if self._dead is not None:
            raise StorageError(f"database {self.path} writer stopped after an error: {self._dead}")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if self._conn is None:
            self._queue.put((fn, fut))
            return fut
        self._pending.append((fn, fut))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._first_pending = loop.time()
            loop.call_soon(self._flush, loop)
        return fut

    # ------------------------------------------------------------ inline writer (on the event loop)

    def _flush(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Run everything queued since the last flush as group commits of up to `max_batch` operations.

        While the loop has other callbacks ready (other steps and publishes on their way to queue their own
        operations), the commit waits for them: up to `max_delay` seconds after the first queued operation, or
        until `full_batch` operations are queued. When the last commit carried more than one operation, it also
        lingers until `linger` after the first one, idle loop or not. So a lone writer's operation commits at
        once, and under load one commit carries the writes of many steps (see the module docstring).
        """
        if loop is not None and self._pending and self._max_delay > 0:
            ready = getattr(loop, "_ready", None)  # asyncio's run queue; absent elsewhere: no deferral
            waited = loop.time() - self._first_pending
            if len(self._pending) < self._full_batch and waited < self._max_delay:
                if ready:
                    loop.call_soon(self._flush, loop)
                    return
                if self._last_batch > 1 and waited < self._linger:
                    loop.call_later(self._linger - waited, self._flush, loop)
                    return
        self._flush_scheduled = False
        while self._pending and self._conn is not None:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            self._last_batch = len(batch)
            try:
                results = self._run_batch(self._conn, batch)
            except BaseException as e:  # noqa: BLE001 - reported to every waiting caller
                self._dead = e
                err = StorageError(f"SQLite writer failed on {self.path}: {e}")
                err.__cause__ = e
                _settle_all([(fut, None, err) for _, fut in batch + self._pending])
                self._pending = []
                return
            _settle_all(results)

    # ------------------------------------------------------------ writer thread

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # see the module docstring: `_checkpoint_loop` does it
        conn.execute(f"PRAGMA journal_size_limit={int(self._wal_limit)}")  # a restarted WAL shrinks back to it
        for ddl in self._schemas:
            conn.executescript(ddl)
        return conn

    def _run(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._open()
        except sqlite3.Error as e:
            err = StorageError(f"cannot open SQLite database at {self.path}: {e}")
            loop.call_soon_threadsafe(_settle, ready, None, err)
            return
        loop.call_soon_threadsafe(_settle, ready, None, None)
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                if first is _RESTART:
                    self._restart_here(conn)
                    continue
                batch = [first]
                stop = False
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    if item is _RESTART:
                        self._queue.put(_RESTART)  # after this batch
                        break
                    batch.append(item)
                try:
                    results = self._run_batch(conn, batch)
                except BaseException as e:  # noqa: BLE001 - reported to every waiting caller, then we stop
                    self._dead = e
                    err = StorageError(f"SQLite writer failed on {self.path}: {e}")
                    err.__cause__ = e
                    loop.call_soon_threadsafe(_settle_all, [(fut, None, err) for _, fut in batch])
                    self._fail_queued(loop, err)
                    return
                loop.call_soon_threadsafe(_settle_all, results)
                if stop:
                    return
        finally:
            conn.close()

    def _checkpoint_loop(self) -> None:
        """Passive checkpoints on a connection of their own; a failed one is retried on the next round."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        page_bytes = conn.execute("PRAGMA page_size").fetchone()[0] + 24  # a WAL frame: page and header
        copied = 0
        try:
            while not self._closed:
                self._checkpoint_wanted.wait(1.0)
                self._checkpoint_wanted.clear()
                if self._closed or self.commits == copied:
                    continue
                copied = self.commits
                try:
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                    if frames * page_bytes > self._wal_limit:
                        self._restart_wal(conn)
                except sqlite3.Error:
                    log.warning("SQLite checkpoint failed on %s; retrying later", self.path, exc_info=True)
                    continue
        finally:
            conn.close()

    def _restart_wal(self, conn: sqlite3.Connection) -> None:
        """Have the writer checkpoint the whole WAL between two of its transactions, so that its next
        transaction writes the WAL from the start again.

        Why: a passive checkpoint copies what was committed when it began, and the writer commits on meanwhile,
        so under steady load the WAL was never all copied when a transaction began, which is when SQLite
        restarts it: it grew without end (1 GB in 20 s of bench/wakes.py), and commits slowed down as it
        grew (each one extending the file). The writer's checkpoint copies only what the catch-up below left
        (what committed meanwhile) and syncs little (see the module docstring for figures, and why the writer).
        """
        loop = self._loop
        if loop is None or self._closed:
            return
        # Catch up first, writer running, until a round finds little to copy: what is left for the writer is
        # then what commits during that short round, and the files it syncs are mostly synced.
        for _ in range(_CATCH_UP_ROUNDS):
            started = time.perf_counter()
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if time.perf_counter() - started < _SHORT_ROUND_S:
                break
        if self.mode == "thread":
            self._queue.put(_RESTART)  # the writer thread checkpoints between two batches itself
            return
        done = threading.Event()
        loop.call_soon_threadsafe(self._restart_inline, done)
        while not done.wait(0.1):  # this connection stays idle meanwhile: the writer's checkpoint never waits
            if self._closed:
                return

    def _restart_inline(self, done: threading.Event) -> None:
        """On the loop, between two callbacks: no transaction is open."""
        try:
            if self._conn is not None:
                self._restart_here(self._conn)
        finally:
            done.set()

    def _restart_here(self, conn: sqlite3.Connection) -> None:
        """On the writer's connection and thread, between two transactions (see `_restart_wal`)."""
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error:
            log.warning("SQLite WAL restart failed on %s; retrying later", self.path, exc_info=True)
            return
        if not busy:
            self.wal_restarts += 1

    def _fail_queued(self, loop: asyncio.AbstractEventLoop, err: BaseException) -> None:
        pending = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP and item is not _RESTART:
                pending.append((item[1], None, err))
        loop.call_soon_threadsafe(_settle_all, pending)

    def _run_batch(
        self, conn: sqlite3.Connection, batch: list[Any]
    ) -> list[tuple[Any, Any, BaseException | None]]:
        """Run the batch in one transaction; if any operation fails, redo it with one savepoint per operation.

        Why optimistic: a savepoint costs two statements per operation, and each statement hands the GIL to
        the event loop and back. Failures are rare (a conflict, a duplicate id), so the fast path runs every
        operation bare and only a batch holding a failure pays for isolation, by running again.
        """
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            err = StorageError(f"SQLite BEGIN failed on {self.path}: {e}")
            return [(fut, None, err) for _, fut in batch]
        self._deferred = {}
        results: list[tuple[Any, Any, BaseException | None]] = []
        try:
            for fn, fut in batch:
                results.append((fut, fn(conn), None))
            self.flush_deferred(conn)
        except BaseException:  # noqa: BLE001 - the isolated rerun below reports it to its caller
            self._deferred = {}
            conn.execute("ROLLBACK")
            return self._run_isolated(conn, batch)
        return self._commit(conn, results)

    def _run_isolated(
        self, conn: sqlite3.Connection, batch: list[Any]
    ) -> list[tuple[Any, Any, BaseException | None]]:
        conn.execute("BEGIN IMMEDIATE")
        results: list[tuple[Any, Any, BaseException | None]] = []
        for fn, fut in batch:
            conn.execute("SAVEPOINT op")
            self._deferred = {}
            try:
                value = fn(conn)
                self.flush_deferred(conn)  # its deferred statements stand or fall with it
            except BaseException as e:  # noqa: BLE001 - handed to the caller, never swallowed
                self._deferred = {}
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                results.append((fut, None, _wrap(e, self.path)))
                continue
            conn.execute("RELEASE op")
            results.append((fut, value, None))
        return self._commit(conn, results)

    def _commit(
        self, conn: sqlite3.Connection, results: list[tuple[Any, Any, BaseException | None]]
    ) -> list[tuple[Any, Any, BaseException | None]]:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the commit error below is what the callers need to see
            err = StorageError(f"SQLite COMMIT failed on {self.path}: {e}")
            return [(fut, None, err) for fut, _, _ in results]
        self.commits += 1
        if self.commits % self._checkpoint_every == 0:
            self._checkpoint_wanted.set()
        self.operations += len(results)
        return results


def _wrap(e: BaseException, path: Path) -> BaseException:
    if isinstance(e, AosError):
        return e
    if isinstance(e, sqlite3.Error):
        wrapped = StorageError(f"SQLite operation failed on {path}: {e}")
        wrapped.__cause__ = e
        return wrapped
    return e


def _settle(fut: asyncio.Future[Any], value: Any, err: BaseException | None) -> None:
    if fut.done():
        return
    if err is not None:
        fut.set_exception(err)
    else:
        fut.set_result(value)


def _settle_all(results: Sequence[tuple[Any, Any, BaseException | None]]) -> None:
    for fut, value, err in results:
        _settle(fut, value, err)
