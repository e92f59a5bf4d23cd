"""The `python` brain: an importable callable decides.

    brain: {kind: python, settings: {entrypoint: "examples.support.brains:reporter"}}

The callable gets `(ctx: BrainContext, events: list[Event])` and returns a `Decision`, a list of effects
(models or dicts such as `{"kind": "send", "to": "x", "data": {...}}`) or None for "nothing to do". It may be
`async def`; a plain function runs on the event loop, so it must be quick (do I/O in an async function).
`AOS_PYTHON_BRAIN_MODULES` limits which modules may be named (a comma-separated list of prefixes).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from aos.brains.base import Brain, BrainContext, BrainFactory
from aos.errors import BrainError, ValidationFailed
from aos.model import AgentSpec, Decision, Effect, Event

_EFFECTS = TypeAdapter(list[Effect])


def load_entrypoint(spec: AgentSpec, allowed: tuple[str, ...]) -> Callable[..., Any]:
    entry = spec.brain.settings.get("entrypoint")
    if not isinstance(entry, str) or ":" not in entry:
        raise ValidationFailed(
            f"python brain of '{spec.id}' needs settings.entrypoint as 'module:function', got {entry!r}"
        )
    module_name, _, attr = entry.partition(":")
    if allowed and not any(module_name == p or module_name.startswith(p + ".") for p in allowed):
        raise ValidationFailed(
            f"module '{module_name}' is not allowed for python brains; AOS_PYTHON_BRAIN_MODULES allows "
            f"{', '.join(allowed)}"
        )
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as e:
        raise ValidationFailed(f"cannot load python brain entrypoint '{entry}': {e}") from e
    if not callable(target):
        raise ValidationFailed(f"python brain entrypoint '{entry}' is not callable")
    return target  # type: ignore[no-any-return]


def to_decision(result: Any, entry: str) -> Decision:
    if isinstance(result, Decision):
        return result
    if result is None:
        return Decision()
    try:
        if isinstance(result, dict):
            return Decision.model_validate(result)
        return Decision(effects=_EFFECTS.validate_python(list(result)))
    except (ValidationError, TypeError) as e:
        raise BrainError(f"python brain '{entry}' returned something that is not a list of effects: {e}") from e


class PythonBrain(Brain):
    def __init__(self, fn: Callable[..., Any], entry: str) -> None:
        self._fn = fn
        self._entry = entry
        self._is_async = inspect.iscoroutinefunction(fn)

    async def decide(self, ctx: BrainContext, events: list[Event]) -> Decision:
        try:
            result = self._fn(ctx, events)
            if self._is_async or inspect.isawaitable(result):
                result = await result
        except (BrainError, TimeoutError):
            raise
        except Exception as e:
            raise BrainError(f"python brain '{self._entry}' raised {type(e).__name__}: {e}") from e
        return to_decision(result, self._entry)


class PythonFactory(BrainFactory):
    def __init__(self, allowed_modules: tuple[str, ...] = ()) -> None:
        self._allowed = allowed_modules

    def check(self, spec: AgentSpec) -> None:
        load_entrypoint(spec, self._allowed)

    def build(self, spec: AgentSpec) -> Brain:
        return PythonBrain(load_entrypoint(spec, self._allowed), str(spec.brain.settings["entrypoint"]))
