"""Python brains for the secret tests (importable as tests.unit.brains.secret_brains:NAME)."""

from __future__ import annotations

from typing import Any

#: what each brain saw as its token's value, by agent id (a stand-in for "called an API with it")
SEEN: dict[str, str] = {}


def uses_token(ctx: Any, events: list[Any]) -> list[dict[str, Any]]:
    """Uses the secret the way code should: reads it, never returns it."""
    SEEN[ctx.agent_id] = ctx.settings["token"].reveal()
    return [{"kind": "note", "text": f"called the API with {ctx.settings['token']}"},
            {"kind": "state", "set": {"calls": ctx.state.get("calls", 0) + 1}}]


def leaks_token(ctx: Any, events: list[Any]) -> list[dict[str, Any]]:
    return [{"kind": "note", "text": "token is " + ctx.settings["token"].reveal()}]


def raises_with_token(ctx: Any, events: list[Any]) -> None:
    raise RuntimeError(f"API refused token {ctx.settings['token'].reveal()}")
