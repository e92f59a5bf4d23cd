"""How agents think. `Brains` dispatches on `spec.brain.kind` to the factories of each kind."""

from __future__ import annotations

import httpx

from aos.brains.base import Brain, BrainContext, BrainFactory
from aos.brains.openai import OpenAIFactory
from aos.brains.python import PythonFactory
from aos.brains.scripted import ScriptedFactory
from aos.config import Config
from aos.model import AgentSpec


class Brains(BrainFactory):
    def __init__(self, config: Config | None = None, *, openai_transport: httpx.AsyncBaseTransport | None = None
                 ) -> None:
        config = config or Config()
        self.openai = OpenAIFactory(config, openai_transport)
        self._kinds: dict[str, BrainFactory] = {
            "python": PythonFactory(config.python_brain_modules),
            "scripted": ScriptedFactory(),
            "openai": self.openai,
        }

    def check(self, spec: AgentSpec) -> None:
        self._kinds[spec.brain.kind].check(spec)

    def build(self, spec: AgentSpec) -> Brain:
        return self._kinds[spec.brain.kind].build(spec)

    async def aclose(self) -> None:
        await self.openai.aclose()


__all__ = ["Brain", "BrainContext", "BrainFactory", "Brains"]
