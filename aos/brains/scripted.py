"""The `scripted` brain: declarative rules in the agent spec, no model involved.

    brain:
      kind: scripted
      settings:
        rules:
          - match: {type: ticket.created, data: {category: billing}}
            then:
              - send: {to: billing-desk, type: ticket.assigned, data: "{{ event.data }}"}
              - state: {incr: {routed: 1}}
              - note: "routed {{ event.data.id }} to billing"
        default:                      # optional: actions for events no rule matched
          - emit: {type: ticket.unrouted, data: "{{ event.data }}"}

Each event is matched against the rules in order; the first match applies (set `continue: true` on a rule to
keep matching). `match.type` is exact, a prefix glob (`ticket.*`) or `*`; `match.data` compares dotted paths
of the event data for equality (a list means "any of"). Strings may hold `{{ path }}` templates over `event`,
`state` and `agent`; a string that is only a template keeps the value's type. `state.incr` adds to counters,
and later events of the same step see the updated state, so the decision is a pure function of
(state, events): replaying it gives the same effects.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aos.brains.base import Brain, BrainContext, BrainFactory
from aos.errors import ValidationFailed
from aos.kernel.router import type_matches
from aos.model import AgentSpec, Decision, EmitEffect, Event, NoteEffect, SendEffect, StateEffect

_TEMPLATE = re.compile(r"\{\{\s*([a-zA-Z_][\w.-]*)\s*\}\}")
_WHOLE = re.compile(r"^\{\{\s*([a-zA-Z_][\w.-]*)\s*\}\}$")


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = "*"
    data: dict[str, Any] = Field(default_factory=dict)


class StateAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    set: dict[str, Any] = Field(default_factory=dict)
    incr: dict[str, int | float] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)


class Action(BaseModel):
    """Exactly one of the keys."""

    model_config = ConfigDict(extra="forbid")
    send: dict[str, Any] | None = None
    emit: dict[str, Any] | None = None
    state: StateAction | None = None
    note: str | None = None

    def kind(self) -> str:
        present = [k for k in ("send", "emit", "state", "note") if getattr(self, k) is not None]
        if len(present) != 1:
            raise ValueError(f"an action has exactly one of send/emit/state/note, got {present or 'none'}")
        return present[0]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    match: Match = Field(default_factory=Match)
    then: list[Action] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[Rule] = Field(default_factory=list, max_length=200)
    default: list[Action] = Field(default_factory=list)


def _lookup(root: dict[str, Any], path: str) -> Any:
    value: Any = root
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def render(value: Any, scope: dict[str, Any]) -> Any:
    """Fill `{{ path }}` templates in strings, recursively through lists and dicts."""
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole:
            return _lookup(scope, whole.group(1))
        return _TEMPLATE.sub(lambda m: _text(_lookup(scope, m.group(1))), value)
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: render(v, scope) for k, v in value.items()}
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _data_matches(expected: dict[str, Any], data: Any) -> bool:
    root = {"data": data}
    for path, want in expected.items():
        got = _lookup(root, f"data.{path}")
        if isinstance(want, list):
            if got not in want:
                return False
        elif got != want:
            return False
    return True


#: What a templated string stands for when a `send`/`emit` action is checked at registration
#: (`_check_shape`): a valid value for every string field of an effect, `type` included.
_PROBE = "templated"


def parse_script(spec: AgentSpec, *, shapes: bool = False) -> Script:
    """The spec's script; `shapes` (at registration) also checks that every `send`/`emit` action can produce a
    valid effect (`_check_shape`), so a rule that could only fail is refused then, not at each matching step."""
    try:
        script = Script.model_validate(spec.brain.settings)
        actions = [(f"rule {i + 1}, action {j + 1}", a)
                   for i, r in enumerate(script.rules) for j, a in enumerate(r.then)]
        actions += [(f"default action {j + 1}", a) for j, a in enumerate(script.default)]
        for where, action in actions:
            kind = action.kind()
            if shapes and kind in ("send", "emit"):
                _check_shape(where, kind, getattr(action, kind))
    except (ValidationError, ValueError) as e:
        raise ValidationFailed(f"scripted brain settings of '{spec.id}' are invalid: {e}") from e
    if not script.rules and not script.default:
        raise ValidationFailed(f"scripted brain of '{spec.id}' has no rules and no default actions")
    return script


def _check_shape(where: str, kind: str, raw: dict[str, Any]) -> None:
    """Validate a `send`/`emit` action as the effect it renders to, with each templated string (outside
    `data`, which takes anything) standing for a valid value. What only a template decides (a `type` of
    `"{{ event.data.t }}"` rendering to a list) still fails at the step, with the reason in the step journal."""
    probe = {k: _PROBE if k != "data" and isinstance(v, str) and _TEMPLATE.search(v) else v
             for k, v in raw.items()}
    try:
        (SendEffect if kind == "send" else EmitEffect).model_validate(probe)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or kind}: {err['msg']}"
                             for err in e.errors())
        raise ValueError(f"{where}: {kind} cannot make a valid effect ({problems})") from None


class ScriptedBrain(Brain):
    def __init__(self, script: Script) -> None:
        self._script = script

    async def decide(self, ctx: BrainContext, events: list[Event]) -> Decision:
        state = dict(ctx.state)
        effects: list[Any] = []
        for event in events:
            actions = self._actions_for(event)
            scope = {"event": {**event.wire(), "sender": event.sender}, "state": state,
                     "agent": {"id": ctx.agent_id, "tenant": ctx.tenant}}
            for action in actions:
                effect = _effect(action, scope, state)
                effects.append(effect)
                scope["state"] = state
        return Decision(effects=effects, summary=f"{len(events)} event(s) → {len(effects)} effect(s) by rules")

    def _actions_for(self, event: Event) -> list[Action]:
        chosen: list[Action] = []
        for rule in self._script.rules:
            if type_matches(rule.match.type, event.type) and _data_matches(rule.match.data, event.data):
                chosen.extend(rule.then)
                if not rule.continue_:
                    break
        return chosen or list(self._script.default)


def _effect(action: Action, scope: dict[str, Any], state: dict[str, Any]) -> Any:
    kind = action.kind()
    try:
        if kind == "send":
            return SendEffect.model_validate(render(action.send, scope))
        if kind == "emit":
            return EmitEffect.model_validate(render(action.emit, scope))
        if kind == "note":
            return NoteEffect(text=str(render(action.note, scope)) or "(empty note)")
    except ValidationError as e:
        raise ValidationFailed(f"rule produced an invalid {kind} effect: {e}") from e
    assert action.state is not None
    updates = dict(render(action.state.set, scope))
    for name, delta in action.state.incr.items():
        current = state.get(name, 0)
        updates[name] = (current if isinstance(current, (int, float)) else 0) + delta
    for name in action.state.unset:
        state.pop(name, None)
    state.update(updates)
    return StateEffect(set=updates, unset=list(action.state.unset))


class ScriptedFactory(BrainFactory):
    def check(self, spec: AgentSpec) -> None:
        parse_script(spec, shapes=True)

    def build(self, spec: AgentSpec) -> Brain:
        return ScriptedBrain(parse_script(spec))
