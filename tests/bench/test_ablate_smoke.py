"""`bench/ablate.py --quick` runs every set-up in its own child process and prints a row for each.

No timing assertions (see test_wakes_smoke.py): only that the four set-ups run, lose no event, and that the
`-core` set-ups really leave the context journal and governance out while the shipped ones keep them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ablate.py"


@pytest.mark.timeout(180)
def test_quick_run_prints_a_row_per_set_up() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=170,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.strip().startswith("1 ")]
    assert [row[1] for row in rows] == ["sqlite", "sqlite-core", "memory", "memory-core"], out.stdout
    assert "LOST" not in out.stdout
    for row in rows:
        cpu_us, p99_ms = float(row[2].replace(",", "")), float(row[4])
        assert cpu_us > 0 and p99_ms > 0, row
    commits = {row[1]: float(row[6]) for row in rows}
    assert commits["sqlite"] > 0 and commits["memory"] == 0, commits


def test_an_unknown_set_up_is_refused() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--setups", "sqlite,disk"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 2
    assert "unknown set-up(s) disk" in out.stderr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("setup", ["sqlite", "sqlite-core", "memory-core"])
def test_core_set_ups_leave_out_the_context_journal_and_governance(
    setup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Looked up in the set-up's own store after its run: a shipped step leaves a context entry and an audit
    record behind, a core step neither (and its events are still all processed)."""
    monkeypatch.syspath_prepend(str(BENCH.parent))  # undone after the test, with what `wakes` adds at import
    monkeypatch.setattr("aos.runtime.settle_heap", lambda: None)  # it would freeze this test process's heap
    import ablate

    from aos.model import agent_key

    found: dict[str, int] = {}
    original = ablate.wakes.open_loop

    async def open_loop_then_look(system: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
        out: dict[str, float] = await original(system, *args, **kwargs)
        page = await system.stores.context.page(agent_key(ablate.wakes.TENANT, "bench-000000"), limit=1000)
        found["step entries"] = sum(e.kind == "step" for e in page.entries)
        found["audit records"] = (await system.stores.governance.audit.head(ablate.wakes.TENANT))[0]
        return out

    monkeypatch.setattr(ablate.wakes, "open_loop", open_loop_then_look)
    figures = asyncio.run(ablate.one(setup, 10, 100.0, 0.3, 20))
    assert figures["seen"] == figures["events"] == 30
    if setup.endswith("-core"):
        assert found == {"step entries": 0, "audit records": 0}, found
    else:
        assert found["step entries"] >= 2 and found["audit records"] >= 2, found
