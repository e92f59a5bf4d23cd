"""checkov scans `infra/` (framework bicep) with zero failed checks and zero parsing errors; every skip is a
`// checkov:skip=ID:reason` comment inside the resource it excuses, and carries a reason.

checkov lives in its own virtualenv (`.venv-infra`, made by `make test` from requirements-checkov.txt)
because its pinned dependencies clash with the project's.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.infra import bicep

CHECKOV = bicep.ROOT / ".venv-infra" / "bin" / "checkov"


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    if not CHECKOV.exists():
        pytest.fail(
            f"{CHECKOV} is missing: run `make test` (or `make .venv-infra/.installed`) to install checkov"
        )
    report = tmp_path_factory.mktemp("checkov") / "results.json"
    cmd = [
        str(CHECKOV),
        "--directory",
        str(bicep.INFRA),
        "--framework",
        "bicep",
        "--skip-download",
        "--compact",
        "--output",
        "cli",
        "--output",
        "json",
        "--output-file-path",
        f"console,{report}",
    ]
    # No network here: --skip-download keeps checkov from fetching guidelines and custom policies.
    env = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",
        "CHECKOV_NO_OUTPUT_COLOR": "1",
        "ANSI_COLORS_DISABLED": "1",
    }
    proc = subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=240, env=env, cwd=bicep.ROOT
    )
    if not report.exists():
        pytest.fail(f"checkov wrote no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc, json.loads(report.read_text())


@pytest.mark.timeout(300)
def test_checkov_finds_no_failed_check(scan: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    proc, report = scan
    summary = report["summary"]
    assert summary["failed"] == 0 and proc.returncode == 0, f"checkov failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.timeout(300)
def test_checkov_parsed_every_file(scan: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    # checkov silently passes files it cannot parse; zero failures would then mean nothing.
    _, report = scan
    assert report["summary"]["parsing_errors"] == 0, (
        f"checkov could not parse: {report['results']['parsing_errors']}"
    )
    assert report["summary"]["resource_count"] > 0, "checkov found no resource in infra/"


@pytest.mark.timeout(300)
def test_every_skip_is_justified(scan: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    _, report = scan
    unjustified = [
        f"{r['check_id']} on {r['resource']} ({r['file_path']})"
        for r in report["results"]["skipped_checks"]
        if len((r["check_result"].get("suppress_comment") or "").strip()) < 20
        or r["check_result"]["suppress_comment"].strip() == "No comment provided"
    ]
    assert not unjustified, "checkov skips without a reason (`// checkov:skip=ID:reason`):\n  " + "\n  ".join(
        unjustified
    )
