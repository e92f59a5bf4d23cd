"""The `openai` brain: any OpenAI-compatible chat-completions endpoint (OpenAI, Azure OpenAI v1, vLLM, ...).

    brain: {kind: openai, settings: {model: gpt-4.1-mini, max_rounds: 6, instructions: "..."}}

The endpoint and key come from the host's configuration (`AOS_OPENAI_BASE_URL`, `AOS_OPENAI_API_KEY`,
`AOS_OPENAI_MODEL`); registering an `openai` agent on a host without them is refused with `NotConfigured`
naming the setting. The model sees the events as JSON and can call tools: the effect tools (`emit_event`,
`send_message`, `set_state`, `note`) collect effects that the kernel applies after journaling the decision;
the agent's ContextMCPServer tools (prefixed `context__`) are executed right away through the agent's MCP
session, as its working memory. An endpoint error is a `BrainError` with the status and the endpoint's
message, never a made-up answer.

An agent may bring its own endpoint: `settings.base_url` (a URL or a `@keyvault:` reference) and
`settings.api_key` (only ever a reference: a literal key would be stored in the registry and shown by
GET /api/agents). Both are resolved at each step through the host's `SecretResolver` (Key Vault caches them
briefly), so a rotated key applies without re-registering. Decision: with `settings.base_url`, the host's
AOS_OPENAI_API_KEY is never sent; that endpoint gets `settings.api_key` or no key. A base URL given as a
reference is treated as secret too: errors name the reference, and httpx's request log is raised to WARNING.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from aos.brains.base import Brain, BrainContext, BrainFactory
from aos.config import Config
from aos.errors import AosError, BrainError, NotConfigured, ValidationFailed
from aos.model import AgentSpec, Decision, EmitEffect, Event, NoteEffect, SendEffect, StateEffect
from aos.secrets import EnvSecretResolver, Secret, SecretResolver, is_reference, scrub

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


@dataclass(frozen=True)
class Endpoint:
    """Where a brain's model calls go: values, or references resolved at each step."""

    base_url: str
    api_key: str | None = None

    def __repr__(self) -> str:  # the host's key is a plain string here
        return f"Endpoint({self.base_url!r}, key={'set' if self.api_key else 'none'})"


@dataclass(frozen=True)
class _Call:
    """One step's resolved endpoint. `shown` is what messages may say about the URL."""

    url: str = field(repr=False)
    shown: str
    headers: dict[str, str] = field(repr=False)
    secrets: tuple[Secret, ...]


class OpenAIBrain(Brain):
    def __init__(self, client: httpx.AsyncClient, endpoint: Endpoint, spec: AgentSpec, model: str,
                 secrets: SecretResolver | None = None) -> None:
        self._client = client
        self._endpoint = endpoint
        self._secrets = secrets or EnvSecretResolver()
        self._spec = spec
        self._model = model
        self._max_rounds = int(spec.brain.settings.get("max_rounds", 6))

    async def decide(self, ctx: BrainContext, events: list[Event]) -> Decision:
        target = await self._resolve()
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
            reply = await self._complete(target, messages, tools)
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

    async def _resolve(self) -> _Call:
        base, key, secrets = self._endpoint.base_url, self._endpoint.api_key, []
        shown = base
        if is_reference(base):
            secret = await self._secrets.resolve(base)
            base, shown = secret.reveal(), f"settings.base_url ({self._endpoint.base_url})"
            secrets.append(secret)
        if key is not None and is_reference(key):
            secret = await self._secrets.resolve(key)
            key = secret.reveal()
            secrets.append(secret)
        headers = {"Authorization": f"Bearer {key}", "api-key": key} if key else {}
        return _Call(f"{base.rstrip('/')}/chat/completions", shown, headers, tuple(secrets))

    async def _complete(self, call: _Call, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
                        ) -> dict[str, Any]:
        body = {"model": self._model, "messages": messages, "tools": tools}
        try:
            response = await self._client.post(call.url, json=body, headers=call.headers)
        except httpx.HTTPError as e:  # httpx errors quote the URL: scrub it, and drop the cause when it did
            message = f"model endpoint {call.shown} unreachable: {type(e).__name__}: {e}"
            clean = scrub(message, call.secrets)
            raise BrainError(clean) from (None if clean != message else e)
        if response.status_code >= 400:
            raise BrainError(scrub(f"model endpoint answered {response.status_code}: {response.text[:500]}",
                                   call.secrets))
        try:
            return response.json()  # type: ignore[no-any-return]
        except ValueError:
            raise BrainError(scrub(f"model endpoint answered non-JSON: {response.text[:200]}", call.secrets)
                             ) from None

    async def _run_tool(self, call: dict[str, Any], effects: list[Any], session: Any, ctx: BrainContext) -> str:
        fn = call.get("function") or {}
        name = fn.get("name", "")
        try:
            args = json.loads(fn.get("arguments") or "{}")
            if name.startswith(CONTEXT_PREFIX) and session is not None:
                await ctx.check(f"tool.call:{name}")  # a denial goes back to the model as the tool's error
                return json.dumps(await session.call(name[len(CONTEXT_PREFIX):], args), default=str)
            kinds: dict[str, type[EmitEffect | SendEffect | StateEffect | NoteEffect]] = {
                "emit_event": EmitEffect, "send_message": SendEffect, "set_state": StateEffect, "note": NoteEffect}
            effect = kinds[name].model_validate(args)
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
    def __init__(self, config: Config, transport: httpx.AsyncBaseTransport | None = None,
                 secrets: SecretResolver | None = None) -> None:
        self._config = config
        self._secrets = secrets
        self._client = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(120.0, connect=10.0))

    def _model(self, spec: AgentSpec) -> str:
        model = spec.brain.settings.get("model") or self._config.openai_model
        if not model:
            raise NotConfigured("openai brain needs a model: set settings.model or AOS_OPENAI_MODEL",
                                setting="AOS_OPENAI_MODEL")
        return str(model)

    def _endpoint(self, spec: AgentSpec) -> Endpoint:
        settings = spec.brain.settings
        base, key = settings.get("base_url"), settings.get("api_key")
        if key is not None and not is_reference(key):
            raise ValidationFailed("settings.api_key must be a secret reference (@keyvault:NAME): a literal key "
                                   "would be stored in the registry and shown by GET /api/agents",
                                   field="brain.settings.api_key")
        if base is not None:
            if not isinstance(base, str) or not (is_reference(base) or base.startswith(("https://", "http://"))):
                raise ValidationFailed("settings.base_url must be an http(s) URL or a secret reference "
                                       f"(@keyvault:NAME), got {str(base)[:100]!r}", field="brain.settings.base_url")
            if is_reference(base):
                _quiet_request_log()
            return Endpoint(base, key)
        base = self._config.require("AOS_OPENAI_BASE_URL")
        if key is None and "AOS_OPENAI_API_KEY" in self._config.unresolved:
            self._config.require("AOS_OPENAI_API_KEY")
        return Endpoint(base, key if key is not None else self._config.openai_api_key)

    def check(self, spec: AgentSpec) -> None:
        self._endpoint(spec)
        settings = spec.brain.settings
        model = settings.get("model")
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ValidationFailed(f"settings.model must be a model or deployment name, got {str(model)[:100]!r}",
                                   field="brain.settings.model")
        self._model(spec)
        instructions = settings.get("instructions", "")
        if not isinstance(instructions, str):
            raise ValidationFailed("settings.instructions must be text (they are added to the system prompt), "
                                   f"got {type(instructions).__name__}", field="brain.settings.instructions")
        rounds = settings.get("max_rounds", 6)
        if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= 20:
            raise ValidationFailed(f"settings.max_rounds must be an integer in 1..20, got {rounds!r}",
                                   field="brain.settings.max_rounds")

    def build(self, spec: AgentSpec) -> Brain:
        self.check(spec)
        return OpenAIBrain(self._client, self._endpoint(spec), spec, self._model(spec), self._secrets)

    async def aclose(self) -> None:
        await self._client.aclose()


def _quiet_request_log() -> None:
    """httpx logs every request's URL at INFO; a URL kept in a vault must not land in the log. Raised to WARNING
    unless the application set a level for that logger itself."""
    http_log = logging.getLogger("httpx")
    if http_log.level == logging.NOTSET:
        http_log.setLevel(logging.WARNING)
