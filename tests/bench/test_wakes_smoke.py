"""The wakes benchmark runs: `bench/wakes.py --quick` finishes and prints every figure.

No timing assertions here: the performance targets live in the benchmark (`make bench`), where a miss is
reported next to its target; a test on a shared 2-core machine would only be flaky.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "wakes.py"

FIGURES = (
    "events processed (brain / store)",
    "sustained events/s end to end",
    "event→step latency p50 (ms)",
    "event→step latency p99 (ms)",
    "peak RSS (MB)",
    "fixed-rate latency p50 (ms)",
    "fixed-rate latency p99 (ms)",
    "longest loop lag (ms) / full GCs",
    "host speed",
    "boot: process start → ready (s)",
    "RSS after boot (MB)",
)


@pytest.mark.timeout(120)
def test_quick_run_exits_0_and_prints_its_figures() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=110,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    for label in FIGURES:
        assert label in out.stdout, f"missing figure '{label}' in:\n{out.stdout}"
    assert "FAILED" not in out.stdout
    assert "phase 1b: 2,000 more events, published 100 a call" in out.stdout
    processed = [line.split() for line in out.stdout.splitlines() if "events processed (brain / store)" in line]
    assert [words[5:8] for words in processed] == [["2,000", "/", "2,000"]] * 2, out.stdout  # phases 1 and 1b


@pytest.mark.timeout(120)
def test_find_rate_probes_down_until_the_p99_holds() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--find-rate", "--rate", "400"], capture_output=True,
                         text=True, timeout=110, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "phase 2b: highest open-loop rate" in out.stdout
    assert "highest rate with p99 ≤ 20 ms" in out.stdout
