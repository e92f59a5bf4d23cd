"""The storage benchmark runs: `bench/storage.py --quick` starts both emulators, runs every adapter pair (AOS
and raw SDK) and prints their figures.

No timing assertions (see test_wakes_smoke.py): the 10 % overhead target is read from the full run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "storage.py"
ADAPTERS = ("cosmos", "blob", "table", "queue")


@pytest.mark.timeout(180)
def test_quick_run_exits_0_and_prints_every_adapters_figures() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=170,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ADAPTERS:
        section = out.stdout.split(f"{name}: ", 1)
        assert len(section) == 2, f"no figures for '{name}' in:\n{out.stdout}"
        for label in ("raw SDK :", "AOS     :", "AOS overhead:"):
            assert label in section[1], f"missing '{label}' for '{name}' in:\n{out.stdout}"
