"""What `func azure functionapp publish` ships: requirements.txt, host.json, local settings, .funcignore.

`python -m tests.functions.test_packaging` rewrites requirements.txt from pyproject.toml.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tomllib

from aos.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
HEADER = ("# Generated from pyproject.toml [project.dependencies] by `python -m tests.functions.test_packaging`;\n"
          "# installed by `func azure functionapp publish` (remote build). Do not edit by hand.\n")


def render_requirements() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return HEADER + "".join(f"{d}\n" for d in deps)


def test_requirements_match_pyproject() -> None:
    assert (ROOT / "requirements.txt").read_text() == render_requirements(), (
        "requirements.txt is stale: run `python -m tests.functions.test_packaging`")


def test_local_settings_example_names_every_aos_setting() -> None:
    values = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    aos_settings = {s.name for s in SETTINGS if s.name.startswith("AOS_")}
    assert aos_settings - set(values) == set(), "add these to local.settings.json.example"
    unknown = {k for k in values if k.startswith("AOS_")} - aos_settings
    assert unknown == set(), "settings no code reads (remove them, or add them to aos.config.SETTINGS)"
    assert all(isinstance(v, str) for v in values.values()), "Functions settings are strings"


def test_host_json_fits_durable_and_flex_consumption() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    ext = host["extensions"]
    assert ext["durableTask"]["hubName"] == "%AOS_TASK_HUB%"
    # start_new must never replace a running agent orchestration (two steps of one agent at once)
    assert ext["durableTask"]["overridableExistingInstanceStates"] == "NonRunningStates"
    assert ext["http"]["routePrefix"] == "", "the catch-all route serves /api/... and /mcp/... itself"
    assert 1 <= ext["queues"]["maxDequeueCount"] <= 10, "poison messages must reach aos-events-poison"
    hours, minutes, _ = (int(x) for x in host["functionTimeout"].split(":"))
    assert 15 <= hours * 60 + minutes <= 60, "longer than a step's 15-minute cap, bounded for Flex Consumption"


def test_funcignore_keeps_tests_and_tooling_out() -> None:
    lines = set((ROOT / ".funcignore").read_text().split())
    assert {"tests/", ".venv/", "node_modules/", "bench/", "local.settings.json"} <= lines
    assert "aos/" not in lines and "mcp_servers/" not in lines


if __name__ == "__main__":
    (ROOT / "requirements.txt").write_text(render_requirements())
    sys.exit(0)
