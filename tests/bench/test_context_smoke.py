"""The context benchmarks run: `bench/context_reference.py --quick` drives our server and the reference MCP
memory server through the same workload and prints both sides' figures; `bench/context.py --quick` times each
tool beside the no-op, over stdio beside a bare SDK server's no-op too.

No timing assertions (see test_wakes_smoke.py): the targets are reported by the benchmark itself.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "context_reference.py"
REFERENCE = ROOT / "node_modules" / "@modelcontextprotocol" / "server-memory" / "dist" / "index.js"


@pytest.mark.timeout(60)
@pytest.mark.skipif(not REFERENCE.exists(), reason="node_modules absent: run `npm ci` at the repo root")
def test_quick_run_prints_both_sides() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=50, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    for size in ("100", "300"):
        tools = {r[1] for r in rows if r and r[0] == size}
        assert tools == {"append", "read", "search", "noop"}, out.stdout
    assert "append throughput" in out.stdout and "search throughput" in out.stdout


@pytest.mark.timeout(60)
def test_quick_tool_run_prints_every_tool_and_the_sdk_floor() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "context.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {(r[0], r[2]) for r in (line.split() for line in out.stdout.splitlines()) if r[:1] != ["transport"]}
    tools = {"noop", "append", "read", "search"}
    assert rows == {("http", t) for t in tools} | {("stdio", t) for t in tools | {"sdk-noop"}}, out.stdout
