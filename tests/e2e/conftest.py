"""A real `aos up` process on a free port, driven over HTTP and through the `aos` CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN = "e2e-admin-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "AOS_URL": self.url, "AOS_API_KEY": ADMIN,
                "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        return self.proc.wait(20)


def start(data_dir: Path, *, samples: bool = True, command: list[str] | None = None, port: int | None = None,
          env: dict[str, str] | None = None) -> Server:
    """`env`: more settings for the process (over the defaults here)."""
    port = port or free_port()
    env = {**os.environ, "AOS_ADMIN_KEY": ADMIN, "AOS_PORT": str(port), "AOS_DATA_DIR": str(data_dir),
           "AOS_SCHEDULER_INTERVAL_S": "0.2", "AOS_SWEEP_INTERVAL_S": "0.5",
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"aos-{port}.log"
    cmd = command or [str(BIN / "aos"), "up"] + (["--samples"] if samples else [])
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", port, data_dir, proc, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"aos up exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/api/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise AssertionError(f"aos up did not answer within 30 s:\n{log.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = start(tmp_path / "data")
    yield s
    assert s.stop() == 0, f"aos up did not shut down cleanly on SIGTERM:\n{s.log.read_text()[-3000:]}"


def wait_until(predicate, timeout: float = 15.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
