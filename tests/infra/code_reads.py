"""What the code reads from the function app's environment, and the comparison with what `infra/` sets.

Sources of reads:
- `aos.config.SETTINGS` with scope `azure` or `both` (the single list of every setting AOS code reads);
- if `function_app.py` exists at the repository root: each binding's `connection` (a connection `X` is
  satisfied by an identity-based app setting `X__fullyQualifiedNamespace` / `X__accountName` /
  `X__accountEndpoint` / `X__serviceUri`, or a plain `X`) and every `%NAME%` binding expression;
- `%NAME%` expressions in `host.json` (e.g. a task hub name), which the Functions host resolves from app
  settings too.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any

from aos.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_APP = ROOT / "function_app.py"
HOST_JSON = ROOT / "host.json"

# Suffixes of identity-based connection settings (Functions "connection" conventions).
CONNECTION_SUFFIXES = (
    "__fullyQualifiedNamespace",
    "__accountName",
    "__accountEndpoint",
    "__serviceUri",
    "__blobServiceUri",
    "__queueServiceUri",
    "__tableServiceUri",
)

_EXPRESSION = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")


@dataclass
class Reads:
    """Setting names the code reads, each with where it is read (for the failure message)."""

    exact: dict[str, str] = field(default_factory=dict)
    connections: dict[str, str] = field(default_factory=dict)

    def satisfied_by(self, connection: str, infra: Iterable[str]) -> list[str]:
        names = {connection, *(connection + s for s in CONNECTION_SUFFIXES)}
        return sorted(names & set(infra))

    def explains(self, setting: str) -> bool:
        """Whether some read accounts for an app setting of this name."""
        if setting in self.exact:
            return True
        return any(setting == c or setting.startswith(c + "__") for c in self.connections)


def config_reads() -> dict[str, str]:
    return {
        s.name: f"aos.config.SETTINGS (scope {s.scope})" for s in SETTINGS if s.scope in ("azure", "both")
    }


def expressions(value: Any) -> set[str]:
    """`%NAME%` binding expressions anywhere in a (nested) binding value."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        return set(_EXPRESSION.findall(value))
    if isinstance(value, dict):
        return set().union(*(expressions(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(expressions(v) for v in value)) if value else set()
    return set()


def load_app(path: Path, module_name: str) -> Any:
    """Import a Functions Python v2 app module and return its `app` (a FunctionApp / DFApp)."""
    if module_name in sys.modules:
        module: ModuleType = sys.modules[module_name]
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_functions"):
        raise AssertionError(f"{path.name} has no `app` with get_functions(): cannot read its bindings")
    return app


def function_app() -> Any:
    """The repository's function app, imported under a private module name so that this check neither
    shares nor disturbs the `function_app` module other tests import."""
    return load_app(FUNCTION_APP, "_tests_infra_function_app")


def bindings(app: Any) -> list[tuple[str, dict[str, Any]]]:
    """(function name, binding as the host sees it) for every binding of every function.

    `FunctionApp.get_functions()` can run once per app object (a second call trips its duplicate-name
    check), so each app's answer is kept."""
    key = id(app)
    if key not in _BINDINGS:
        _BINDINGS[key] = [
            (fn.get_function_name(), b.get_dict_repr())
            for fn in app.get_functions()
            for b in fn.get_bindings()
        ]
    return _BINDINGS[key]


_BINDINGS: dict[int, list[tuple[str, dict[str, Any]]]] = {}


def binding_reads(app: Any, source: str) -> Reads:
    reads = Reads()
    for fn, binding in bindings(app):
        where = f"{source}: function {fn}, {binding.get('type')} binding {binding.get('name')!r}"
        conn = binding.get("connection")
        if isinstance(conn, str) and conn:
            reads.connections[conn] = where
        for name in expressions(binding):
            reads.exact[name] = where
    return reads


def host_json_reads(path: Path = HOST_JSON) -> dict[str, str]:
    if not path.exists():
        return {}
    return {name: path.name for name in expressions(json.loads(path.read_text()))}


def code_reads() -> Reads:
    reads = Reads(exact={**config_reads(), **host_json_reads()})
    if FUNCTION_APP.exists():
        app_reads = binding_reads(function_app(), FUNCTION_APP.name)
        reads.exact.update(app_reads.exact)
        reads.connections.update(app_reads.connections)
    return reads


def disagreements(reads: Reads, infra: set[str], platform: set[str]) -> list[str]:
    """Every setting read but never set, or set but never read; empty when code and infra agree."""
    problems = []
    for name, where in sorted(reads.exact.items()):
        if name not in infra:
            problems.append(f"read but never set by infra/: {name} (read by {where})")
    for conn, where in sorted(reads.connections.items()):
        if not reads.satisfied_by(conn, infra):
            options = " / ".join(conn + s for s in CONNECTION_SUFFIXES[:3])
            problems.append(
                f"connection read but never set by infra/: {conn} (read by {where}; set {options})"
            )
    local = {s.name for s in SETTINGS if s.scope == "local"}
    for name in sorted(infra):
        if name in local:
            problems.append(
                f"set by infra/ but scope 'local' in aos.config.SETTINGS (never set in Azure): {name}"
            )
        elif name not in platform and not reads.explains(name):
            problems.append(f"set by infra/ but never read by the code: {name}")
    return problems
