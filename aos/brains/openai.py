"""The `openai` brain: any OpenAI-compatible chat-completions endpoint (OpenAI, Azure OpenAI v1, vLLM, ...).

    brain: {kind: openai, settings: {model: gpt-4.1-mini, max_rounds: 6, instructions: "..."}}

The endpoint and key come from the host's configuration (`AOS_OPENAI_BASE_URL`, `AOS_OPENAI_API_KEY`,
`AOS_OPENAI_MODEL`); registering an `openai` agent on a host without them is refused with `NotConfigured`
naming the setting. The model sees the events as JSON and can call tools: the effect tools (`emit_event`,
`send_message`, `set_state`, `note`) collect effects that the kernel applies after journaling the decision;
the agent's ContextMCPServer tools (prefixed `context__`) are executed right away through the agent's MCP
session, as its working memory. An endpoint error is a `BrainError` with the status and the endpoint's
message, never a made-up answer.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from aos.brains.base import Brain, BrainContext, BrainFactory
from aos.config import Config
from aos.errors import AosError, BrainError, NotConfigured, ValidationFailed
from aos.model import AgentSpec, Decision, EmitEffect, Event, NoteEffect, SendEffect, StateEffect

CONTEXT_PREFIX = "context__"

EFFECT_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "emit_event", "description": "Publish a CloudEvent into the tenant; subscribed agents wake.",
        "parameters": {"type": "object", "required": ["type"], "properties": {
            "type": {"type": "string"}, "data": {}, "subject": {"type": "string"},
            "to": {"type": "string", "description": "also address this agent directly"}}}}},
    {"type": "function", "function": {
        "name": "send_message", "description": "Send a message to one agent.",
        "parameters": {"type": "object", "required": ["to"], "properties": {
            "to": {"type": "string"}, "type": {"type": "string", "default": "aos.message"}, "data": {}}}}},
    {"type": "function", "function": {
        "name": "set_state", "description": "Merge keys into your persistent state; unset removes keys.",
        "parameters": {"type": "object", "properties": {
            "set": {"type": "object"}, "unset": {"type": "array", "items": {"type": "string"}}}}}},
    {"type": "function", "function": {
        "name": "note", "description": "Write a line into your journal.",
        "parameters": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}},
]


class OpenAIBrain(Brain):
    def __init__(self, client: httpx.AsyncClient, url: str, key: str | None, spec: AgentSpec, model: str) -> None:
        self._client = client
        self._url = url
        self._headers = {"Authorization": f"Bearer {key}", "api-key": key} if key else {}
        self._spec = spec
        self._model = model
        self._max_rounds = int(spec.brain.settings.get("max_rounds", 6))

    async def decide(self, ctx: BrainContext, events: list[Event]) -> Decision:
        session = await ctx.context()
        tools = list(EFFECT_TOOLS)
        if session is not None:
            tools += [{"type": "function", "function": {
                "name": CONTEXT_PREFIX + t["name"], "description": t.get("description") or "",
                "parameters": t.get("input_schema") or {"type": "object"}}} for t in await session.tools()]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self._system_prompt(ctx)},
            {"role": "user", "content": json.dumps([e.wire() for e in events], default=str)},
        ]
        effects: list[Any] = []
        calls = tokens = 0
        for _ in range(self._max_rounds):
            await ctx.check("model.call", tokens=tokens)  # policy and budgets, before the call is made
            reply = await self._complete(messages, tools)
            calls += 1  # noqa: SIM113 - counts model calls, not loop rounds
            tokens += int((reply.get("usage") or {}).get("total_tokens", 0))
            message = _first_message(reply)
            messages.append(message)
            tool_calls = message.get("tool_calls") or []
            if not tool_calls:
                return Decision(effects=effects, summary=message.get("content"), model_calls=calls, tokens=tokens)
            for call in tool_calls:
                result = await self._run_tool(call, effects, session, ctx)
                messages.append({"role": "tool", "tool_call_id": call.get("id"), "content": result})
        raise BrainError(f"model still calling tools after {self._max_rounds} rounds (settings.max_rounds)")

    def _system_prompt(self, ctx: BrainContext) -> str:
        extra = self._spec.brain.settings.get("instructions", "")
        return (f"You are agent '{ctx.agent_id}' in AOS. Purpose: {self._spec.purpose}\n{extra}\n"
                f"Your state: {json.dumps(ctx.state, default=str)}\n"
                "You receive events as JSON. Act only through tools; answer with a one-line summary.")

    async def _complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"model": self._model, "messages": messages, "tools": tools}
        try:
            response = await self._client.post(self._url, json=body, headers=self._headers)
        except httpx.HTTPError as e:
            raise BrainError(f"model endpoint {self._url} unreachable: {type(e).__name__}: {e}") from e
        if response.status_code >= 400:
            raise BrainError(f"model endpoint answered {response.status_code}: {response.text[:500]}")
        try:
            return response.json()  # type: ignore[no-any-return]
        except ValueError as e:
            raise BrainError(f"model endpoint answered non-JSON: {response.text[:200]}") from e

    async def _run_tool(self, call: dict[str, Any], effects: list[Any], session: Any, ctx: BrainContext) -> str:
        fn = call.get("function") or {}
        name = fn.get("name", "")
        try:
            args = json.loads(fn.get("arguments") or "{}")
            if name.startswith(CONTEXT_PREFIX) and session is not None:
                await ctx.check(f"tool.call:{name}")  # a denial goes back to the model as the tool's error
                return json.dumps(await session.call(name[len(CONTEXT_PREFIX):], args), default=str)
            effect = {"emit_event": EmitEffect, "send_message": SendEffect, "set_state": StateEffect,
                      "note": NoteEffect}[name].model_validate(args)
        except KeyError:
            return json.dumps({"error": f"unknown tool '{name}'"})
        except (ValueError, AosError) as e:
            return json.dumps({"error": str(e)})
        effects.append(effect)
        return json.dumps({"ok": True, "applied": "after this step"})


def _first_message(reply: dict[str, Any]) -> dict[str, Any]:
    try:
        message = reply["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as e:
        raise BrainError(f"model reply has no choices[0].message: {str(reply)[:300]}") from e
    return {k: v for k, v in message.items() if k in ("role", "content", "tool_calls")}


class OpenAIFactory(BrainFactory):
    def __init__(self, config: Config, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._config = config
        self._client = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(120.0, connect=10.0))

    def _model(self, spec: AgentSpec) -> str:
        model = spec.brain.settings.get("model") or self._config.openai_model
        if not model:
            raise NotConfigured("openai brain needs a model: set settings.model or AOS_OPENAI_MODEL",
                                setting="AOS_OPENAI_MODEL")
        return str(model)

    def check(self, spec: AgentSpec) -> None:
        self._config.require("AOS_OPENAI_BASE_URL")
        if "AOS_OPENAI_API_KEY" in self._config.unresolved:
            self._config.require("AOS_OPENAI_API_KEY")
        self._model(spec)
        rounds = spec.brain.settings.get("max_rounds", 6)
        if not isinstance(rounds, int) or not 1 <= rounds <= 20:
            raise ValidationFailed(f"settings.max_rounds must be an integer in 1..20, got {rounds!r}")

    def build(self, spec: AgentSpec) -> Brain:
        self.check(spec)
        base = self._config.require("AOS_OPENAI_BASE_URL").rstrip("/")
        return OpenAIBrain(self._client, f"{base}/chat/completions", self._config.openai_api_key, spec,
                           self._model(spec))

    async def aclose(self) -> None:
        await self._client.aclose()
