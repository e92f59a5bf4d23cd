"""Static reading of `infra/*.bicep` through pycep-parser, for the infrastructure tests.

There is no Bicep CLI here (`bicep build` would need a download), so these helpers read the parsed syntax
tree instead: resources, module wiring, parameter defaults and the function app's app settings. Anything they
cannot resolve statically is an `UnreadableBicep` error naming the spot, never a silent skip, so the tests
built on them cannot pass by reading less.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
FUNCTION_APP_MODULE = INFRA / "modules" / "functionapp.bicep"

_INTERPOLATION = re.compile(r"\$\{")


class UnreadableBicep(AssertionError):
    """The Bicep uses a construct these helpers cannot evaluate statically; simplify it or extend them."""


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    """The pycep syntax tree of one file (raises lark's error with line and column on a syntax error)."""
    return BicepParser().parse(file_path=path)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's properties, looking through `if (...)` and `[for ...]` wrappers."""
    config = resource["config"]
    while (
        isinstance(config, dict) and "config" in config and ("condition" in config or "loop_type" in config)
    ):
        config = config["config"]
    return config


def resources(path: Path, type_: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(symbolic name, resource) of the resources declared (not `existing`) in one file."""
    for name, res in (parse(path).get("resources") or {}).items():
        if res.get("existing"):
            continue
        if type_ is None or res["type"].lower() == type_.lower():
            yield name, res


@dataclass(frozen=True)
class ModuleUse:
    """One `module sym 'path' = { params: {...} }` statement."""

    file: Path
    symbol: str
    target: Path
    params: dict[str, Any]


def module_uses(path: Path) -> list[ModuleUse]:
    uses = []
    for symbol, mod in (parse(path).get("modules") or {}).items():
        if mod.get("type") != "local":
            raise UnreadableBicep(
                f"{rel(path)}: module {symbol} is not a local file; only local modules are read"
            )
        target = (path.parent / mod["detail"]["path"]).resolve()
        uses.append(ModuleUse(path, symbol, target, dict(body(mod).get("params") or {})))
    return uses


def literal(value: Any, variables: dict[str, Any], where: str) -> Any:
    """Evaluate a literal expression: strings without interpolation, numbers, bools, arrays and objects of
    literals, and references to variables that are themselves literal."""
    if isinstance(value, str):
        if value in variables:
            return literal(variables[value], variables, where)
        if _INTERPOLATION.search(value):
            raise UnreadableBicep(f"{where}: {value!r} is interpolated, not a literal")
        return value
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list):
        return [literal(v, variables, where) for v in value]
    if isinstance(value, dict) and not ({"function", "operator"} & value.keys()):
        return {k: literal(v, variables, where) for k, v in value.items()}
    raise UnreadableBicep(f"{where}: {value!r} is an expression, not a literal")


def variables(path: Path) -> dict[str, Any]:
    return {name: v["value"] for name, v in (parse(path).get("variables") or {}).items()}


def parameters(path: Path) -> dict[str, dict[str, Any]]:
    return dict(parse(path).get("parameters") or {})


def effective_param(module: Path, name: str) -> Any:
    """The value `main.bicep` gives a module parameter: what it passes, else the module's default."""
    uses = [u for u in module_uses(MAIN) if u.target == module.resolve()]
    if len(uses) != 1:
        raise UnreadableBicep(f"{rel(module)} is used {len(uses)} times by main.bicep; expected once")
    use = uses[0]
    where = f"{rel(MAIN)} module {use.symbol} param {name}"
    if name in use.params:
        return literal(use.params[name], variables(MAIN), where)
    default = parameters(module)[name]["default"]
    if default is None:
        raise UnreadableBicep(f"{where}: not passed and {rel(module)} has no default")
    return literal(default, variables(module), f"{rel(module)} param {name}")


@dataclass(frozen=True)
class AppSetting:
    name: str
    value: Any  # the pycep expression: a str (maybe with ${...}), or a reference/function tree
    where: str


def _setting_list(expr: Any, vars_: dict[str, Any], where: str) -> list[Any]:
    if isinstance(expr, str) and expr in vars_:
        return _setting_list(vars_[expr], vars_, where)
    if isinstance(expr, list):
        return expr
    if isinstance(expr, dict) and expr.get("function", {}).get("type") in {"concat", "union"}:
        items: list[Any] = []
        for arg in expr["function"]["parameters"].values():
            items.extend(_setting_list(arg, vars_, where))
        return items
    raise UnreadableBicep(
        f"{where}: appSettings must be a literal list (or concat/union of them), got {expr!r}"
    )


def app_settings() -> list[AppSetting]:
    """Every app setting any Bicep file sets on a function app: `siteConfig.appSettings` of each
    `Microsoft.Web/sites` resource and the keys of any `Microsoft.Web/sites/config` named `appsettings`."""
    found: list[AppSetting] = []
    for path in bicep_files():
        vars_ = variables(path)
        for sym, res in resources(path, "Microsoft.Web/sites"):
            where = f"{rel(path)} resource {sym}"
            expr = ((body(res).get("properties") or {}).get("siteConfig") or {}).get("appSettings")
            if expr is None:
                continue
            for item in _setting_list(expr, vars_, where):
                if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "value" not in item:
                    raise UnreadableBicep(
                        f"{where}: app setting {item!r} is not {{ name: 'LITERAL', value: ... }}"
                    )
                if item["name"] in vars_ or _INTERPOLATION.search(item["name"]):
                    raise UnreadableBicep(f"{where}: app setting name {item['name']!r} must be a literal")
                found.append(AppSetting(item["name"], item["value"], where))
        for sym, res in resources(path, "Microsoft.Web/sites/config"):
            cfg = body(res)
            if str(cfg.get("name", "")).endswith("appsettings"):
                where = f"{rel(path)} resource {sym}"
                props = cfg.get("properties")
                if not isinstance(props, dict) or {"function", "operator"} & props.keys():
                    raise UnreadableBicep(f"{where}: appsettings properties must be a literal object")
                found.extend(AppSetting(k, v, where) for k, v in props.items())
    return found
