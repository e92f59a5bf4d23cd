"""How agents think. `Brains` dispatches on `spec.brain.kind` to the factories of each kind.

Secret references in brain settings (`@keyvault:NAME`, see `aos.secrets`) are checked here for every kind at
registration (`check`: well-formed; `verify`: the secret exists, see `aos.brains.references`) and resolved at
use by the brains that use them (`python`: `ctx.settings`; `openai`: `settings.api_key` / `settings.base_url`)
through the `SecretResolver` the host passes in (default: the environment, `AOS_SECRET_<NAME>`).
"""

from __future__ import annotations

import httpx

from aos.brains.base import Brain, BrainContext, BrainFactory
from aos.brains.openai import OpenAIFactory
from aos.brains.python import PythonFactory
from aos.brains.references import check_references, verify_references
from aos.brains.scripted import ScriptedFactory
from aos.config import Config
from aos.model import AgentSpec
from aos.secrets import EnvSecretResolver, SecretResolver


class Brains(BrainFactory):
    def __init__(self, config: Config | None = None, *, openai_transport: httpx.AsyncBaseTransport | None = None,
                 secrets: SecretResolver | None = None) -> None:
        config = config or Config()
        self.secrets = secrets or EnvSecretResolver()
        self.openai = OpenAIFactory(config, openai_transport, self.secrets)
        self._kinds: dict[str, BrainFactory] = {
            "python": PythonFactory(config.python_brain_modules, self.secrets),
            "scripted": ScriptedFactory(),
            "openai": self.openai,
        }

    def check(self, spec: AgentSpec) -> None:
        check_references(spec)
        self._kinds[spec.brain.kind].check(spec)

    async def verify(self, spec: AgentSpec) -> None:
        await verify_references(spec, self.secrets)
        await self._kinds[spec.brain.kind].verify(spec)

    def build(self, spec: AgentSpec) -> Brain:
        return self._kinds[spec.brain.kind].build(spec)

    async def aclose(self) -> None:
        await self.openai.aclose()


__all__ = ["Brain", "BrainContext", "BrainFactory", "Brains"]
