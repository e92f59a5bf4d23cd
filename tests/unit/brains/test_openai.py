"""The openai brain against an OpenAI-compatible chat-completions endpoint.

There is no model here, so the endpoint is a small protocol-level stand-in served through an httpx transport:
it answers like the real API (tool calls, usage, errors). The brain's code path is the real one."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from aos.brains import Brains
from aos.brains.base import BrainContext
from aos.config import Config
from aos.errors import BrainError
from aos.model import AgentSpec, EmitEffect, Event, SendEffect

pytestmark = pytest.mark.anyio
CONFIG = Config(openai_base_url="https://models.example/v1", openai_api_key="sk-test", openai_model="m1")


class ChatEndpoint:
    def __init__(self, replies: list[dict[str, Any]], status: int = 200) -> None:
        self.replies = replies
        self.status = status
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer sk-test"
        self.requests.append(json.loads(request.content))
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"message": "quota exceeded"}})
        message = self.replies.pop(0)
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", **message}}],
                                         "usage": {"total_tokens": 10}})


def tool_call(name: str, args: dict[str, Any], call_id: str = "c1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


async def _none() -> None:
    return None


SPEC = AgentSpec.model_validate({"id": "thinker", "purpose": "answer tickets",
                                 "brain": {"kind": "openai", "settings": {"max_rounds": 3}}})


async def test_tool_calls_become_effects_and_the_final_message_the_summary() -> None:
    endpoint = ChatEndpoint([
        {"content": None, "tool_calls": [tool_call("send_message", {"to": "triage", "data": {"a": 1}}),
                                         tool_call("emit_event", {"type": "ticket.answered"}, "c2")]},
        {"content": "answered the ticket"},
    ])
    brains = Brains(CONFIG, openai_transport=httpx.MockTransport(endpoint))
    brains.check(SPEC)
    decision = await brains.build(SPEC).decide(BrainContext("acme", SPEC, 1, {}, _none),
                                               [Event(source="s", type="ticket.created", data={"id": 1})])
    await brains.aclose()
    assert decision.effects == [SendEffect(to="triage", data={"a": 1}), EmitEffect(type="ticket.answered")]
    assert decision.summary == "answered the ticket" and decision.model_calls == 2 and decision.tokens == 20
    first = endpoint.requests[0]
    assert first["model"] == "m1" and "answer tickets" in first["messages"][0]["content"]
    assert {t["function"]["name"] for t in first["tools"]} >= {"send_message", "emit_event", "set_state"}
    assert endpoint.requests[1]["messages"][-1]["role"] == "tool"


async def test_endpoint_errors_are_brain_errors_not_answers() -> None:
    brains = Brains(CONFIG, openai_transport=httpx.MockTransport(ChatEndpoint([], status=429)))
    with pytest.raises(BrainError, match="429.*quota exceeded"):
        await brains.build(SPEC).decide(BrainContext("acme", SPEC, 1, {}, _none), [Event(source="s", type="x")])
    await brains.aclose()


async def test_a_model_that_never_stops_calling_tools_is_cut_off() -> None:
    looping = [{"content": None, "tool_calls": [tool_call("note", {"text": "hm"})]} for _ in range(3)]
    brains = Brains(CONFIG, openai_transport=httpx.MockTransport(ChatEndpoint(looping)))
    with pytest.raises(BrainError, match="after 3 rounds"):
        await brains.build(SPEC).decide(BrainContext("acme", SPEC, 1, {}, _none), [Event(source="s", type="x")])
    await brains.aclose()


def test_an_unresolved_key_vault_reference_is_not_sent_as_a_key() -> None:
    from aos.errors import NotConfigured

    config = Config.load({"AOS_OPENAI_BASE_URL": "https://m.example/v1", "AOS_OPENAI_MODEL": "m",
                          "AOS_OPENAI_API_KEY": "@Microsoft.KeyVault(SecretUri=https://kv/secrets/openai-api-key)"})
    assert config.openai_api_key is None and config.unresolved == ("AOS_OPENAI_API_KEY",)
    with pytest.raises(NotConfigured, match="Key Vault reference that did not resolve"):
        Brains(config).check(SPEC)


@pytest.mark.parametrize(("settings", "says"), [
    ({"max_rounds": True}, "max_rounds must be an integer in 1..20, got True"),
    ({"max_rounds": 0}, "max_rounds must be an integer in 1..20, got 0"),
    ({"model": 5}, "settings.model must be a model or deployment name, got '5'"),
    ({"model": " "}, "settings.model must be a model or deployment name"),
    ({"instructions": ["be brief"]}, "settings.instructions must be text (they are added to the system prompt)"),
])
def test_settings_of_the_wrong_kind_are_refused_at_registration(settings: dict[str, Any], says: str) -> None:
    """They used to be accepted and reach the model as their repr (`['be brief']`), or `True` as one round."""
    from aos.errors import ValidationFailed

    spec = AgentSpec.model_validate({"id": "thinker", "brain": {"kind": "openai", "settings": settings}})
    with pytest.raises(ValidationFailed) as refused:
        Brains(CONFIG).check(spec)
    assert says in refused.value.detail


def test_text_instructions_and_a_named_model_are_accepted() -> None:
    Brains(CONFIG).check(AgentSpec.model_validate({"id": "thinker", "brain": {"kind": "openai", "settings": {
        "instructions": "be brief", "model": "gpt-4.1-mini", "max_rounds": 20}}}))
