"""Every Bicep file parses, and the files fit together the way `bicep build` would check.

The Bicep CLI cannot be installed here, so this is the stand-in: pycep-parser proves the syntax, and the
module wiring is checked by hand (parameters passed exist and required ones are passed, `x.outputs.y` names a
real output, `main.parameters.json` only names parameters of main.bicep with the right JSON type). Not
covered without the CLI: type checking of expressions, ARM resource schemas and API versions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from lark.exceptions import LarkError

from tests.infra import bicep

_JSON_TYPES = {"string": str, "int": int, "bool": bool, "array": list, "object": dict}


@pytest.mark.parametrize("path", bicep.bicep_files(), ids=bicep.rel)
def test_bicep_file_parses(path: Path) -> None:
    try:
        bicep.parse(path)
    except LarkError as e:  # carries line and column
        pytest.fail(f"{bicep.rel(path)} does not parse: {e}")


def test_every_module_is_used() -> None:
    used = {u.target for f in bicep.bicep_files() for u in bicep.module_uses(f)}
    unused = [bicep.rel(p) for p in bicep.bicep_files() if p != bicep.MAIN and p.resolve() not in used]
    assert not unused, f"modules no file uses: {unused}"


@pytest.mark.parametrize("path", bicep.bicep_files(), ids=bicep.rel)
def test_module_parameters_are_wired(path: Path) -> None:
    problems = []
    for use in bicep.module_uses(path):
        if not use.target.exists():
            problems.append(f"module {use.symbol}: {bicep.rel(use.target)} does not exist")
            continue
        declared = bicep.parameters(use.target)
        unknown = sorted(set(use.params) - set(declared))
        required = sorted(n for n, p in declared.items() if p["default"] is None and n not in use.params)
        if unknown:
            problems.append(f"module {use.symbol} passes parameters {bicep.rel(use.target)} lacks: {unknown}")
        if required:
            problems.append(f"module {use.symbol} does not pass required parameters: {required}")
    assert not problems, f"{bicep.rel(path)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", bicep.bicep_files(), ids=bicep.rel)
def test_module_outputs_referenced_exist(path: Path) -> None:
    uses = {u.symbol: u.target for u in bicep.module_uses(path)}
    missing = []
    for symbol, output in re.findall(r"\b(\w+)\.outputs\.(\w+)", path.read_text()):
        if symbol in uses and output not in (bicep.parse(uses[symbol]).get("outputs") or {}):
            missing.append(f"{symbol}.outputs.{output}")
    assert not missing, f"{bicep.rel(path)} references outputs its modules do not declare: {missing}"


def test_parameters_file_matches_main() -> None:
    params = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    declared = bicep.parameters(bicep.MAIN)
    problems = []
    for name, entry in params.items():
        if name not in declared:
            problems.append(f"{name} is not a parameter of main.bicep")
            continue
        kind = _JSON_TYPES[declared[name]["type"]]
        value = entry["value"]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(f"{name}={value!r} is not a Bicep {declared[name]['type']}")
    assert not problems, "infra/main.parameters.json:\n  " + "\n  ".join(problems)
    # Plain values only, so the same file serves `az deployment group create -p` and `azd`.
    assert "${" not in (bicep.INFRA / "main.parameters.json").read_text()


def test_main_needs_no_parameter_without_a_default() -> None:
    required = [n for n, p in bicep.parameters(bicep.MAIN).items() if p["default"] is None]
    assert not required, f"main.bicep parameters without a default make `azd up` prompt: {required}"


def test_azure_yaml_deploys_this_project_to_the_function_app() -> None:
    doc = yaml.safe_load((bicep.ROOT / "azure.yaml").read_text())
    assert doc["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert doc["services"] == {"api": {"project": ".", "language": "python", "host": "function"}}
    # azd finds the deploy target by this tag.
    assert "'azd-service-name': 'api'" in bicep.FUNCTION_APP_MODULE.read_text()
