"""Test an agent in-process: `AgentHarness` runs one agent (and any agents it talks to) on the in-memory backend,
with its real brain, kernel, governance and ContextMCPServer, and no server, timers or threads.

    from aos.testing import AgentHarness

    async def test_escalates_at_three_open_tickets():
        async with AgentHarness.open("examples/escalation/escalation.yaml") as agent:
            for n in (1, 2, 3):
                effects = await agent.step("ticket.created", {"id": f"T-{n}", "customer": "acme"})
            assert [e.type for e in effects if e.kind == "emit"] == ["customer.escalated"]
            assert (await agent.state())["escalated"] == ["acme"]

Steps run when the test asks (`step`, `run`), one at a time, as the embedded host would run them: journaled
decision, effects applied (state, events, messages to the other agents), context entry, audit record. A step
that fails raises `StepFailed` with the kernel's reason, so a broken brain fails the test that ran it.
Nothing is written to disk. What this does not cover: cron wakes (publish an `aos.timer` event yourself) and
anything outside the process the brain calls.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from aos.config import Config
from aos.governance_model import PolicyDocument, PolicyRecord, validate_policy_name
from aos.kernel.context import ContextSession
from aos.model import TARGET_EXT, AgentSpec, Effect, Event, StepRecord, agent_key
from aos.runtime.system import System

SpecLike = AgentSpec | Mapping[str, Any] | str | Path


class StepFailed(AssertionError):
    """A step of the agent under test failed; `step` is its journal record (events, error)."""

    def __init__(self, step: StepRecord) -> None:
        super().__init__(f"step {step.seq} of '{step.agent_id}' failed: {step.error}")
        self.step = step


def load_spec(spec: SpecLike) -> AgentSpec:
    """An `AgentSpec` from a model, a dict, or a YAML/JSON file's path."""
    if isinstance(spec, AgentSpec):
        return spec
    if isinstance(spec, (str, Path)):
        return AgentSpec.model_validate(yaml.safe_load(Path(spec).read_text()))
    return AgentSpec.model_validate(dict(spec))


class AgentHarness:
    """One agent under test, in its own in-memory AOS. Open it with `AgentHarness.open(spec, others=[...])`."""

    def __init__(self, system: System, tenant: str, agent_id: str) -> None:
        self.system, self.tenant, self.agent_id = system, tenant, agent_id
        self._agents: list[str] = [agent_id]

    @classmethod
    @asynccontextmanager
    async def open(cls, spec: SpecLike, *, others: Sequence[SpecLike] = (), tenant: str = "test",
                   policies: Mapping[str, Mapping[str, Any] | str | Path] | None = None,
                   config: Config | None = None) -> AsyncIterator[AgentHarness]:
        """Register `spec` (and `others`, the agents it sends to or hears from) in a fresh in-memory AOS.

        `policies`: name → policy document (see `put_policy`), in force before any agent registers.
        `config` replaces the default in-memory configuration (its backend must not need a server)."""
        config = config or Config(backend="memory", admin_key="aos-testing-" + uuid.uuid4().hex)
        async with System.open(config, run=False) as system:
            harness = cls(system, tenant, "")
            for name, document in (policies or {}).items():
                await harness.put_policy(name, document)
            harness.agent_id = (await system.kernel.register(tenant, load_spec(spec))).id
            harness._agents = [harness.agent_id]
            for other in others:
                harness._agents.append((await system.kernel.register(tenant, load_spec(other))).id)
            yield harness

    async def put_policy(self, name: str, document: Mapping[str, Any] | str | Path) -> PolicyRecord:
        """Put a policy document in force for the harness's tenant, as `PUT /api/policies/{name}` does (same
        checks): a dict, or a YAML/JSON file's path. The agents' next steps are governed by it: denied effects
        are skipped and listed in the step's `decision.outcomes`, budgets stop steps and calls."""
        governor = self.system.kernel.governance
        if governor is None:
            raise RuntimeError("this harness runs without governance")
        body = yaml.safe_load(Path(document).read_text()) if isinstance(document, (str, Path)) else dict(document)
        record = PolicyRecord(tenant=self.tenant, name=validate_policy_name(name), version=0,
                              document=PolicyDocument.model_validate(body), updated_at=governor.clock.now(),
                              updated_by="aos.testing")
        stored: PolicyRecord = await governor.put_policy(record, None)
        return stored

    # ------------------------------------------------------------ driving it

    async def publish(self, type: str, data: Any = None, *, to: str | None = None, **fields: Any) -> Event:
        """Publish an event (to its subscribers, or to agent `to` only as a message); returns it. `fields` are
        other CloudEvent attributes (`id`, `source`, `subject`, extensions). Nothing runs until `run`/`step`."""
        body: dict[str, Any] = {"source": "aos://testing", "type": type, "data": data, **fields}
        if to is not None:
            body[TARGET_EXT] = to
        event = Event.model_validate(body)
        await self.system.kernel.publish(self.tenant, event)
        return event

    async def run(self, limit: int = 100) -> list[StepRecord]:
        """Run every agent of the harness until none has mail; the steps that ran, in order. Raises `StepFailed`
        at the first failed one, and `AssertionError` when mail is still waiting after `limit` steps (agents
        that wake each other without end)."""
        kernel = self.system.kernel
        ran: list[StepRecord] = []
        progress = True
        while progress:
            progress = False
            for agent_id in self._agents:
                key = agent_key(self.tenant, agent_id)
                while True:
                    if len(ran) >= limit and await kernel.stores.mailbox.pending(key):
                        raise AssertionError(f"mail still waiting after {limit} steps: do the agents wake each "
                                             "other without end?")
                    if (outcome := await kernel.run_step(key)) is None:
                        break
                    [step] = await kernel.steps(self.tenant, agent_id, limit=1)
                    if outcome.status != "done":
                        raise StepFailed(step)
                    ran.append(step)
                    progress = True
        return ran

    async def step(self, type: str, data: Any = None, **fields: Any) -> list[Effect]:
        """Publish one event, run until quiet, and return the effects the agent under test decided."""
        await self.publish(type, data, **fields)
        return [e for s in await self.run() if s.agent_id == self.agent_id and s.decision
                for e in s.decision.effects]

    # ------------------------------------------------------------ looking at it

    async def state(self, agent_id: str | None = None) -> dict[str, Any]:
        state, _ = await self.system.kernel.agent_state(self.tenant, agent_id or self.agent_id)
        return state

    async def steps(self, agent_id: str | None = None, limit: int = 100) -> list[StepRecord]:
        """The agent's step journal, oldest first."""
        return list(reversed(await self.system.kernel.steps(self.tenant, agent_id or self.agent_id, limit=limit)))

    async def emitted(self, type_prefix: str | None = None) -> list[Event]:
        """Events the agent under test emitted or sent, oldest first (from the tenant's event log)."""
        found: list[Event] = []
        before: int | None = None
        while True:
            page = await self.system.kernel.events(self.tenant, limit=500, before=before, type_prefix=type_prefix)
            found += [a.event for a in page if a.event.sender == self.agent_id]
            if len(page) < 500:
                return list(reversed(found))
            before = page[-1].pos

    def context(self, agent_id: str | None = None) -> AbstractAsyncContextManager[ContextSession]:
        """A session on the agent's ContextMCPServer, through the MCP client: `await session.call(tool, args)`."""
        if self.system.kernel.context is None:
            raise RuntimeError("this harness runs without ContextMCPServers")
        return self.system.kernel.context.session(self.tenant, agent_id or self.agent_id)
