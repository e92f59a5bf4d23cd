from __future__ import annotations

from typing import Any

import pytest

from aos.brains.base import BrainContext
from aos.brains.scripted import ScriptedFactory, render
from aos.errors import ValidationFailed
from aos.model import AgentSpec, EmitEffect, Event, NoteEffect, SendEffect, StateEffect

pytestmark = pytest.mark.anyio


def scripted(settings: dict[str, Any]) -> AgentSpec:
    return AgentSpec.model_validate({"id": "desk", "brain": {"kind": "scripted", "settings": settings}})


async def _none() -> None:
    return None


def ctx(spec: AgentSpec, state: dict[str, Any] | None = None) -> BrainContext:
    return BrainContext("acme", spec, 1, state or {}, _none)


RULES = {
    "rules": [
        {"match": {"type": "ticket.created", "data": {"category": "billing"}},
         "then": [{"send": {"to": "billing", "type": "ticket.assigned", "data": "{{ event.data }}"}},
                  {"state": {"incr": {"routed": 1}}}]},
        {"match": {"type": "ticket.*", "data": {"priority": ["high", "urgent"]}}, "continue": True,
         "then": [{"note": "urgent {{ event.data.id }} from {{ event.source }}"}]},
        {"match": {"type": "ticket.*"}, "then": [{"emit": {"type": "ticket.unrouted", "data": {"n": "{{ state.routed }}"}}}]},
    ],
}


async def test_first_matching_rule_wins_and_templates_keep_types() -> None:
    spec = scripted(RULES)
    brain = ScriptedFactory().build(spec)
    data = {"id": "T-1", "category": "billing", "amount": 12}
    decision = await brain.decide(ctx(spec, {"routed": 4}), [Event(source="web", type="ticket.created", data=data)])
    assert decision.effects == [
        SendEffect(to="billing", type="ticket.assigned", data=data),
        StateEffect(set={"routed": 5}),
    ]


async def test_continue_keeps_matching_and_state_carries_across_events_of_a_step() -> None:
    spec = scripted(RULES)
    brain = ScriptedFactory().build(spec)
    events = [
        Event(source="web", type="ticket.created", data={"id": "A", "category": "billing"}),
        Event(source="mail", type="ticket.updated", data={"id": "B", "priority": "urgent"}),
    ]
    decision = await brain.decide(ctx(spec), events)
    assert decision.effects[2:] == [
        NoteEffect(text="urgent B from mail"),
        EmitEffect(type="ticket.unrouted", data={"n": 1}),
    ]


async def test_unmatched_events_use_the_default_actions() -> None:
    spec = scripted({"rules": [{"match": {"type": "a"}, "then": [{"note": "a"}]}],
                     "default": [{"note": "ignored {{ event.type }}"}]})
    decision = await ScriptedFactory().build(spec).decide(ctx(spec), [Event(source="s", type="b")])
    assert decision.effects == [NoteEffect(text="ignored b")]


@pytest.mark.parametrize("settings, message", [
    ({}, "no rules"),
    ({"rules": [{"match": {"type": "a"}, "then": []}]}, "at least 1"),
    ({"rules": [{"then": [{"send": {"to": "x"}, "note": "both"}]}]}, "exactly one"),
    ({"rules": [{"then": [{"launch": "rockets"}]}]}, "launch"),
    # a send/emit that could only make an invalid effect is refused now, not at each matching step
    ({"rules": [{"then": [{"emit": {"type": [[]]}}]}]},
     r"rule 1, action 1: emit cannot make a valid effect \(type:"),
    ({"rules": [{"then": [{"note": "ok"}, {"send": {"type": "x"}}]}]},
     r"rule 1, action 2: send .*to: Field required"),
    ({"rules": [{"then": [{"emit": {"type": "bad type!"}}]}]}, "String should match pattern"),
    ({"rules": [{"then": [{"emit": {"type": "x", "colour": "red"}}]}]}, "colour: Extra inputs are not permitted"),
    ({"default": [{"send": {"to": 7}}]}, "default action 1: send"),
])
def test_bad_scripts_are_refused_at_registration(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        ScriptedFactory().check(scripted(settings))


def test_templated_fields_pass_the_registration_check_whatever_they_will_hold() -> None:
    ScriptedFactory().check(scripted({"rules": [{"then": [
        {"send": {"to": "{{ event.data.owner }}", "type": "desk.{{ event.data.kind }}", "data": "{{ event }}"}},
        {"emit": {"type": "{{ event.data.next }}", "subject": "{{ event.subject }}", "data": [1, {"x": None}]}},
    ]}]}))


def test_render_embeds_and_substitutes() -> None:
    scope = {"event": {"data": {"id": 7, "tags": ["x"]}}}
    assert render("{{ event.data.tags }}", scope) == ["x"]
    assert render("id={{event.data.id}} missing={{ event.nope }}", scope) == "id=7 missing="
    assert render({"k": ["{{ event.data.id }}"]}, scope) == {"k": [7]}
