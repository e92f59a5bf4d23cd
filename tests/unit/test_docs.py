"""The README stays true: its configuration table lists exactly the settings the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from aos.config import SETTINGS, Config

ROOT = Path(__file__).resolve().parents[2]


def test_readme_configuration_table_matches_the_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([A-Za-z_]+)` \|", table, re.MULTILINE)
    assert sorted(documented) == sorted(s.name for s in SETTINGS), "README rows must match SETTINGS, once each"


def test_no_configuration_runs_embedded() -> None:
    config = Config.load({})
    assert (config.backend, config.host, config.port, str(config.data_dir)) == (
        "embedded", "127.0.0.1", 7071, ".aos")


def test_config_defaults_are_the_settings_defaults() -> None:
    # Code that builds a Config directly (tests, benchmarks, hosts) gets what an empty environment gives.
    assert Config() == Config.load({})
