"""SQLite-only guarantees: data outlives the process (close/reopen, SIGKILL), and group commit isolates
a failing operation from the others in its batch."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from aos.adapters.embedded import ManualClock, SqliteDatabase, open_sqlite
from aos.errors import StorageError
from aos.model import AgentRecord, AgentSpec, ApiKeyRecord, BrainSpec, Event, Role
from aos.ports import IdempotentResponse

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[3]


async def test_everything_survives_close_and_reopen(tmp_path: Path) -> None:
    clock = ManualClock()
    stores = await open_sqlite(tmp_path, clock=clock)
    spec = AgentSpec(id="alpha", brain=BrainSpec(kind="python"))
    await stores.registry.create(AgentRecord(tenant="acme", spec=spec))
    await stores.mailbox.deliver("acme", Event(id="e1", source="/t", type="a.b"), ["acme/alpha"])
    claim = await stores.mailbox.begin_step("acme/alpha", "alpha", 10)
    assert claim is not None
    await stores.state.put("acme/alpha", {"n": 1}, 0)
    await stores.blobs.put("x/y", b"payload")
    await stores.keys.add(ApiKeyRecord(id="k1", tenant="acme", role=Role.ADMIN, secret_hash="h"))
    await stores.idempotency.put("s", "k", IdempotentResponse(request_hash="h", status=201, body={"ok": 1}))
    await stores.close()
    await stores.close()  # idempotent
    with pytest.raises(StorageError):
        await stores.state.get("acme/alpha")

    again = await open_sqlite(tmp_path, clock=clock)
    try:
        assert (await again.registry.get("acme", "alpha")).version == 1
        resumed = await again.mailbox.begin_step("acme/alpha", "alpha", 10)
        assert resumed is not None and (resumed.seq, resumed.attempts) == (claim.seq, 2)
        assert await again.state.get("acme/alpha") == ({"n": 1}, 1)
        assert await again.blobs.get("x/y") == b"payload"
        assert await again.keys.by_hash("h") is not None
        assert (await again.idempotency.get("s", "k")) == IdempotentResponse("h", 201, {"ok": 1})
        assert (await again.mailbox.deliver("acme", Event(id="e1", source="/t", type="a.b"), [])).duplicate
    finally:
        await again.close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from aos.adapters.embedded import open_sqlite
    from aos.model import Event

    async def main() -> None:
        stores = await open_sqlite(Path(sys.argv[1]))
        events = [Event(id=f"e{i}", source="/child", type="a.b") for i in range(200)]
        await asyncio.gather(*(stores.mailbox.deliver("acme", e, ["acme/alpha"]) for e in events))
        print("delivered", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # wait to be killed

    asyncio.run(main())
    """
)


async def test_delivered_events_survive_sigkill_right_after_deliver_returns(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(tmp_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        with anyio.fail_after(30):
            line = await proc.stdout.readline()  # type: ignore[union-attr]
        assert line == b"delivered\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    stores = await open_sqlite(tmp_path)
    try:
        assert await stores.mailbox.pending("acme/alpha") == 200
        assert len(await stores.mailbox.events("acme", limit=500)) == 200
    finally:
        await stores.close()


async def test_a_failing_operation_rolls_back_alone_within_its_group_commit(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "t.db")
    db.add_schema("CREATE TABLE IF NOT EXISTS t (name TEXT PRIMARY KEY);")
    await db.start()
    try:
        gate = threading.Event()
        blocker = db.submit(lambda conn: gate.wait(10))  # holds the writer so the next ops queue up together

        def insert(name: str, fail: bool = False) -> Callable[[sqlite3.Connection], int]:
            def op(conn: sqlite3.Connection) -> int:
                conn.execute("INSERT INTO t (name) VALUES (?)", (name,))
                if fail:
                    raise RuntimeError("this operation fails after writing")
                return db.commits

            return op

        ops = [db.submit(insert("a")), db.submit(insert("b", fail=True)), db.submit(insert("c"))]
        gate.set()
        assert await blocker is True
        results = await asyncio.gather(*ops, return_exceptions=True)
        assert isinstance(results[1], RuntimeError)
        assert results[0] == results[2]  # a and c saw the same commit counter: one batch, one commit
        rows = await db.read(lambda conn: conn.execute("SELECT name FROM t ORDER BY name").fetchall())
        assert rows == [("a",), ("c",)]
    finally:
        await db.close()


async def test_deliver_many_accepts_the_whole_batch_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aos.adapters.embedded import sqlite_mailbox

    real, calls = sqlite_mailbox._deliver, []

    def second_fails(conn: sqlite3.Connection, row: tuple[object, ...], targets: tuple[str, ...]) -> object:
        calls.append(row[1])
        if row[1] == "e1":  # after e0 was written, every time (the group commit reruns a failed operation alone)
            raise sqlite3.OperationalError("disk I/O error (simulated)")
        return real(conn, row, targets)

    stores = await open_sqlite(tmp_path)
    try:
        monkeypatch.setattr(sqlite_mailbox, "_deliver", second_fails)
        batch = [(Event(id=f"e{i}", source="/t", type="a.b"), ["acme/alpha"]) for i in range(3)]
        with pytest.raises(StorageError):
            await stores.mailbox.deliver_many("acme", batch)
        assert calls[:2] == ["e0", "e1"]
        assert await stores.mailbox.events("acme") == [] and await stores.mailbox.pending("acme/alpha") == 0
        monkeypatch.setattr(sqlite_mailbox, "_deliver", real)
        got = await stores.mailbox.deliver_many("acme", batch)  # nothing of the failed batch was kept
        assert [d.duplicate for d in got] == [False, False, False]
    finally:
        await stores.close()


async def test_sqlite_errors_reach_the_caller_as_storage_error(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "t.db")
    await db.start()
    try:
        with pytest.raises(StorageError) as info:
            await db.write(lambda conn: conn.execute("INSERT INTO missing VALUES (1)"))
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert await db.read(lambda conn: conn.execute("SELECT 1").fetchone()) == (1,)
    finally:
        await db.close()


async def test_start_twice_is_refused(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "t.db")
    await db.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            await db.start()
    finally:
        await db.close()


def _insert(db: SqliteDatabase, n: int) -> Callable[[sqlite3.Connection], int]:
    """An operation inserting `n` into table t; it returns the number of the commit it will be part of."""

    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (n) VALUES (?)", (n,))
        return db.commits

    return op


async def test_writes_queued_while_the_loop_is_busy_share_one_commit_and_an_idle_loop_commits_at_once(
    tmp_path: Path,
) -> None:
    # A long max_delay: only "is other work ready?" and full_batch decide when the commit happens.
    db = SqliteDatabase(tmp_path / "t.db", max_delay=30.0, full_batch=1000)
    db.add_schema("CREATE TABLE IF NOT EXISTS t (n INTEGER);")
    await db.start()
    try:
        async def writer(n: int) -> int:
            for _ in range(n):  # queue this write n loop iterations after the first one
                await asyncio.sleep(0)
            return await db.write(_insert(db, n))

        seen = await asyncio.gather(*(writer(n) for n in range(5)))
        assert len(set(seen)) == 1, "writes queued in successive busy iterations took separate commits"

        before = db.commits
        await asyncio.wait_for(db.write(_insert(db, 99)), timeout=10)  # idle loop: does not wait for max_delay
        assert db.commits == before + 1

        db._full_batch = 2  # a full batch commits without waiting for the rest
        seen = await asyncio.gather(*(writer(n) for n in range(5)))
        assert len(set(seen)) > 1
        assert await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 11
    finally:
        await db.close()


async def test_deferred_statements_run_before_the_commit_visible_to_later_reads_and_fail_with_their_operation(
    tmp_path: Path,
) -> None:
    db = SqliteDatabase(tmp_path / "t.db")
    db.add_schema("CREATE TABLE IF NOT EXISTS t (n INTEGER UNIQUE);")
    await db.start()
    try:
        def deferring(n: int) -> Callable[[sqlite3.Connection], int]:
            def op(conn: sqlite3.Connection) -> int:
                db.defer("INSERT INTO t (n) VALUES (?)", (n,))
                return db.commits

            return op

        count = "SELECT count(*) FROM t"
        # queued in one synchronous stretch: one batch; the read queued after the writes sees them
        ops = [db.submit(deferring(1)), db.submit(deferring(2)), db.read(lambda c: c.execute(count).fetchone()[0])]
        first, second, seen = await asyncio.gather(*ops)
        assert first == second and seen == 2
        # a deferred statement that fails fails its own operation, not the others of the batch
        ops = [db.submit(deferring(3)), db.submit(deferring(1)), db.submit(deferring(4))]
        results = await asyncio.gather(*ops, return_exceptions=True)
        assert isinstance(results[1], StorageError) and not isinstance(results[0], BaseException)
        rows = await db.read(lambda c: c.execute("SELECT n FROM t ORDER BY n").fetchall())
        assert rows == [(1,), (2,), (3,), (4,)]
    finally:
        await db.close()


@pytest.mark.parametrize("mode", ["inline", "thread"])
async def test_joined_items_share_one_operation_per_group_commit_in_order_and_fail_together(
    tmp_path: Path, mode: str
) -> None:
    db = SqliteDatabase(tmp_path / "t.db", mode=mode)
    db.add_schema("CREATE TABLE IF NOT EXISTS t (n INTEGER UNIQUE);")
    await db.start()
    try:
        runs: list[list[int]] = []

        def run(conn: sqlite3.Connection, items: list[int]) -> list[int]:
            runs.append(list(items))
            conn.executemany("INSERT INTO t (n) VALUES (?)", [(n,) for n in items])
            return [n * 10 for n in items]

        async def add(n: int) -> int:
            done, index = db.join("t", n, run)
            return (await done)[index]

        # joined in one synchronous stretch: one operation (inline; the writer thread may start it sooner, and
        # then the rest join the next), each caller gets its own result
        assert await asyncio.gather(add(1), add(2), add(3)) == [10, 20, 30]
        assert runs == [[1, 2, 3]] if mode == "inline" else [n for r in runs for n in r] == [1, 2, 3]
        # once that operation ran, a new item starts the next one
        assert await add(4) == 40
        assert runs[-1] == [4]
        # a failing operation fails every item joined to it, and writes none of them
        results = await asyncio.gather(add(5), add(1), return_exceptions=True)
        assert all(isinstance(r, StorageError) for r in results)
        rows = await db.read(lambda c: c.execute("SELECT n FROM t ORDER BY n").fetchall())
        assert rows == [(1,), (2,), (3,), (4,)]
    finally:
        await db.close()


@pytest.mark.parametrize("mode", ["inline", "thread"])
async def test_the_wal_restarts_under_steady_writes_instead_of_growing_without_end(tmp_path: Path, mode: str) -> None:
    # A passive checkpoint never catches up with a writer that keeps committing, and SQLite only restarts the
    # WAL when a transaction begins with all of it copied; before the writer checkpointed for a restart, it
    # grew by every page ever committed.
    limit = 256 * 1024
    db = SqliteDatabase(tmp_path / "t.db", mode=mode, wal_limit=limit, checkpoint_every=4)
    db.add_schema("CREATE TABLE IF NOT EXISTS t (n INTEGER, pad TEXT);")
    await db.start()
    wal = Path(str(db.path) + "-wal")
    try:
        biggest = 0
        for n in range(1000):  # ~4,000 pages committed, ~16 MB of WAL frames if it never restarted
            await db.write(lambda c, n=n: c.executemany("INSERT INTO t VALUES (?, ?)", [(n, "x" * 3000)] * 4))
            biggest = max(biggest, wal.stat().st_size)
            if n % 50 == 0:
                await asyncio.sleep(0.01)  # let the checkpointer thread run
        assert db.wal_restarts >= 1
        # half of it: how far past the limit it gets depends on when the checkpointer thread gets the GIL
        # (1.0-2.6 MB run alone; 5.1 MB once in a full `make test`, where other tests' threads compete)
        assert biggest < 32 * limit, f"WAL reached {biggest} bytes"
        rows = await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0])
        assert rows == 4000
    finally:
        await db.close()


async def test_a_lone_writer_commits_at_once_and_concurrent_writers_linger_to_share_a_commit(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "t.db", linger=0.05, max_delay=0.05)
    db.add_schema("CREATE TABLE IF NOT EXISTS t (n INTEGER);")
    await db.start()
    try:
        loop = asyncio.get_running_loop()
        for n in range(3):  # one operation per commit: no linger, whatever the setting
            started = loop.time()
            await db.write(_insert(db, n))
            assert loop.time() - started < 0.04
        await asyncio.gather(db.write(_insert(db, 10)), db.write(_insert(db, 11)))  # a commit of two: writers are concurrent

        async def late(n: int, after: float) -> int:
            await asyncio.sleep(after)  # the loop is idle in between: only the linger keeps the commit open
            return await db.write(_insert(db, n))

        seen = await asyncio.gather(late(20, 0), late(21, 0.01))
        assert seen[0] == seen[1], "a write 10 ms later did not share the lingering commit"
    finally:
        await db.close()
