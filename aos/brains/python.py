"""The `python` brain: an importable callable decides.

    brain: {kind: python, settings: {entrypoint: "examples.escalation.brain:decide"}}

The callable gets `(ctx: BrainContext, events: list[Event])` and returns a `Decision`, a list of effects
(models or dicts such as `{"kind": "send", "to": "x", "data": {...}}`) or None for "nothing to do". It may be
`async def`; a plain function runs on the event loop, so it must be quick (do I/O in an async function).
`AOS_PYTHON_BRAIN_MODULES` limits which modules may be named (a comma-separated list of prefixes).

Settings are handed to the callable as `ctx.settings`, resolved at each step: a `@keyvault:NAME` string there
is a `Secret` (`ctx.settings["token"].reveal()`), read through the host's `SecretResolver` (cached briefly by
Key Vault). Values stay out of the record: an error message that quotes one is scrubbed, and a decision that
carries one (in an effect, a note, a summary) fails the step instead of being journaled.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any, NoReturn

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from aos.brains.base import Brain, BrainContext, BrainFactory
from aos.errors import BrainError, ValidationFailed
from aos.model import AgentSpec, Decision, Effect, Event
from aos.secrets import EnvSecretResolver, SecretResolver, has_secrets, scrub

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
    except (Exception, SystemExit) as e:  # the module's own code failed as it was imported
        # a syntax error, or an error raised by the module's top-level code: the brain's author must see it, as a
        # 422 at registration and as the failed step's reason later (not a 500, nor a step retried for ever)
        where = f" (line {e.lineno})" if isinstance(e, SyntaxError) and e.lineno else ""
        raise ValidationFailed(f"cannot load python brain entrypoint '{entry}': importing '{module_name}' "
                               f"raised {type(e).__name__}{where}: {e}") from e
    if not callable(target):
        raise ValidationFailed(f"python brain entrypoint '{entry}' is not callable")
    return target  # type: ignore[no-any-return]


def to_decision(result: Any, entry: str) -> Decision:
    if isinstance(result, Decision):
        return _storable(result, entry)
    if result is None:
        return Decision()
    try:
        if isinstance(result, dict):
            decision = Decision.model_validate(result)
        else:
            decision = Decision(effects=_EFFECTS.validate_python(list(result)))
    except (ValidationError, TypeError) as e:
        raise BrainError(f"python brain '{entry}' returned something that is not a list of effects: {e}") from e
    return _storable(decision, entry)


def _storable(decision: Decision, entry: str) -> Decision:
    """The decision, once it is known to serialize: it is journaled as JSON. Why here: an effect whose `data`
    held an object JSON cannot carry failed at journaling instead, as if storage were down, so the step was
    retried `max_attempts` times and then failed as "did not finish". Only effects can hold such values (the
    summary is a string); a decision without effects costs nothing."""
    if decision.effects:
        try:
            decision.model_dump_json()
        except PydanticSerializationError as e:
            raise BrainError(f"python brain '{entry}' returned effects that cannot be stored as JSON: {e}") from e
    return decision


class PythonBrain(Brain):
    def __init__(self, fn: Callable[..., Any], entry: str, secrets: SecretResolver | None = None) -> None:
        self._fn = fn
        self._entry = entry
        self._is_async = inspect.iscoroutinefunction(fn)
        self._secrets = secrets or EnvSecretResolver()

    async def decide(self, ctx: BrainContext, events: list[Event]) -> Decision:
        ctx.settings = await self._secrets.resolve_tree(ctx.spec.brain.settings)
        try:
            result = self._fn(ctx, events)
            if self._is_async or inspect.isawaitable(result):
                result = await result
        except TimeoutError:
            raise
        except BrainError as e:
            _reraise(e, e.detail, ctx.settings)
        except Exception as e:  # noqa: BLE001 - user code: any failure is the brain's failure, re-raised
            _reraise(e, f"python brain '{self._entry}' raised {type(e).__name__}: {e}", ctx.settings)
        except SystemExit as e:  # `sys.exit()` in a brain would end the whole host (every agent), silently
            _reraise(e, f"python brain '{self._entry}' called sys.exit({e.code!r}); a brain returns, it does "
                        "not exit the host", ctx.settings)
        decision = to_decision(result, self._entry)
        _refuse_revealed(decision, ctx.settings, self._entry)
        return decision


def _reraise(e: Exception | SystemExit, message: str, settings: dict[str, Any]) -> NoReturn:
    """A `BrainError` with `message`; when it quoted a secret, scrubbed and without the cause (whose text and
    traceback would quote it again in the log)."""
    clean = scrub(message, settings)
    if clean != message:
        raise BrainError(clean) from None
    if isinstance(e, BrainError):
        raise e
    raise BrainError(message) from e


def _refuse_revealed(decision: Decision, settings: dict[str, Any], entry: str) -> None:
    """Whatever a decision holds is journaled and applied; a secret's value must not be in it."""
    if not has_secrets(settings):
        return
    text = decision.model_dump_json()
    if scrub(text, settings) != text:
        raise BrainError(f"python brain '{entry}' returned a decision holding the value of a secret from its "
                         "settings; secret values are never journaled or sent: pass the reference, not the value")


class PythonFactory(BrainFactory):
    def __init__(self, allowed_modules: tuple[str, ...] = (), secrets: SecretResolver | None = None) -> None:
        self._allowed = allowed_modules
        self._secrets = secrets

    def check(self, spec: AgentSpec) -> None:
        load_entrypoint(spec, self._allowed)

    def build(self, spec: AgentSpec) -> Brain:
        return PythonBrain(load_entrypoint(spec, self._allowed), str(spec.brain.settings["entrypoint"]),
                           self._secrets)
