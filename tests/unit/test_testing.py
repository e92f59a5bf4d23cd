"""`aos.testing.AgentHarness`: an agent under test in its own in-memory AOS, driven step by step."""

from __future__ import annotations

from pathlib import Path

import pytest

from aos.errors import ValidationFailed
from aos.testing import AgentHarness, StepFailed, load_spec

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
ESCALATION = ROOT / "examples" / "escalation" / "escalation.yaml"
DESK = ROOT / "examples" / "support_desk"


async def test_steps_return_the_decided_effects_and_apply_them() -> None:
    async with AgentHarness.open(ESCALATION) as agent:
        for n in (1, 2):
            assert [e.kind for e in await agent.step("ticket.created", {"id": f"T-{n}", "customer": "acme"})] \
                == ["state"]
        effects = await agent.step("ticket.created", {"id": "T-3", "customer": "acme"})
        assert [e.kind for e in effects] == ["emit", "note", "state"]
        assert (await agent.state())["escalated"] == ["acme"]
        [escalated] = await agent.emitted("customer.escalated")
        assert escalated.subject == "acme" and escalated.data["open"] == ["T-1", "T-2", "T-3"]
        async with agent.context() as session:
            assert (await session.call("block_read", {"label": "watchlist"}))["value"] == {
                "acme": ["T-1", "T-2", "T-3"]}
        steps = await agent.steps()
        assert [s.seq for s in steps] == [1, 2, 3] and steps[0].events[0].data["id"] == "T-1"


async def test_other_agents_run_too_and_their_messages_come_back() -> None:
    """Triage with its desks: one ticket is a chain of four steps (triage → desk → triage → resolved)."""
    async with AgentHarness.open(DESK / "triage.yaml",
                                 others=[DESK / "billing-desk.yaml", DESK / "tech-desk.yaml"]) as triage:
        effects = await triage.step("ticket.created", {"id": "T-1", "category": "billing"})
        kinds = [(e.kind, getattr(e, "type", None)) for e in effects]
        assert ("send", "ticket.assigned") in kinds and ("emit", "ticket.resolved") in kinds
        assert (await triage.state()) == {"routed": 1, "resolved": 1}
        assert (await triage.state("billing-desk"))["answered"] == 1
        assert [e.type for e in await triage.emitted()] == ["ticket.assigned", "ticket.resolved"]


async def test_a_message_to_the_agent_reaches_it_alone() -> None:
    async with AgentHarness.open(DESK / "billing-desk.yaml", others=[DESK / "triage.yaml"]) as desk:
        await desk.publish("ticket.assigned", {"id": "T-7"}, to="billing-desk")
        [step] = [s for s in await desk.run() if s.agent_id == "billing-desk"]
        assert step.events[0].target == "billing-desk"


async def test_a_failing_brain_fails_the_test_with_the_kernels_reason() -> None:
    spec = {"id": "broken", "subscriptions": [{"type": "boom"}],
            "brain": {"kind": "python", "settings": {"entrypoint": "tests.unit.kernel.brains_for_tests:explode"}}}
    async with AgentHarness.open(spec) as agent:
        with pytest.raises(StepFailed, match="step 1 of 'broken' failed: .*boom: cannot handle boom") as failed:
            await agent.step("boom")
        assert failed.value.step.status == "failed"


async def test_agents_that_wake_each_other_forever_are_stopped() -> None:
    ping = {"id": "ping", "subscriptions": [{"type": "ball"}], "brain": {"kind": "scripted", "settings": {
        "rules": [{"match": {"type": "ball"}, "then": [{"send": {"to": "pong", "type": "ball"}}]}]}}}
    pong = {**ping, "id": "pong", "brain": {"kind": "scripted", "settings": {
        "rules": [{"match": {"type": "ball"}, "then": [{"send": {"to": "ping", "type": "ball"}}]}]}}}
    async with AgentHarness.open(ping, others=[pong]) as agent:
        await agent.publish("ball", to="ping")
        with pytest.raises(AssertionError, match="mail still waiting after 20 steps"):
            await agent.run(limit=20)


async def test_an_invalid_spec_is_refused_as_the_api_would() -> None:
    with pytest.raises(ValidationFailed, match="cannot load python brain entrypoint"):
        async with AgentHarness.open({"id": "unloadable", "brain": {"kind": "python",
                                                            "settings": {"entrypoint": "nowhere:decide"}}}):
            pass  # pragma: no cover - never reached


def test_specs_load_from_models_dicts_and_files() -> None:
    spec = load_spec(ESCALATION)
    assert load_spec(spec) is spec
    assert load_spec(spec.model_dump()) == spec
    assert load_spec(str(ESCALATION)) == spec


def test_the_readme_test_runs_as_written(tmp_path: Path) -> None:
    """The README's "Test it" example, saved as a user would and run with `python -m pytest` from the repository."""
    import re
    import subprocess
    import sys

    section = (ROOT / "README.md").read_text().split("### Test it", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    (tmp_path / "test_my_agent.py").write_text(code)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path / "test_my_agent.py")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


async def test_exactly_limit_steps_is_not_an_endless_loop() -> None:
    async with AgentHarness.open(ESCALATION) as agent:
        for n in range(3):
            await agent.publish("ticket.created", {"id": f"T-{n}", "customer": f"c{n}"})
            assert len(await agent.run(limit=1)) == 1  # one step, then nothing waits


async def test_policies_govern_the_agent_under_test() -> None:
    """A denied effect is decided, skipped and listed in the step's outcomes; the rest of the step goes on."""
    quiet = {"rules": [{"id": "no-escalations", "actions": ["event.emit"], "effect": "deny",
                        "reason": "escalations go through the phone line", "when": {"event_types": ["customer.*"]}}]}
    async with AgentHarness.open(ESCALATION, policies={"quiet": quiet}) as agent:
        for n in (1, 2, 3):
            effects = await agent.step("ticket.created", {"id": f"T-{n}", "customer": "acme"})
        assert [e.kind for e in effects] == ["emit", "note", "state"]  # decided
        assert await agent.emitted() == []  # not applied
        [outcome] = (await agent.steps())[-1].decision.outcomes  # type: ignore[union-attr]
        assert (outcome.outcome, outcome.rule, outcome.reason) == (
            "denied", "no-escalations", "escalations go through the phone line")
        assert (await agent.state())["escalated"] == ["acme"]  # the state effect was not denied


async def test_a_policy_put_later_applies_to_the_next_steps_and_is_checked_as_the_api_checks_it(
        tmp_path: Path) -> None:
    async with AgentHarness.open(ESCALATION) as agent:
        budget = tmp_path / "budget.yaml"
        budget.write_text("budgets:\n  - {metric: steps, period: day, limit: 1, per: agent}\n")
        assert (await agent.put_policy("one-step-a-day", budget)).version == 1
        await agent.step("ticket.created", {"id": "T-1", "customer": "acme"})
        assert await agent.step("ticket.created", {"id": "T-2", "customer": "acme"}) == []  # budget used up
        assert [s.seq for s in await agent.steps()] == [1]
        with pytest.raises(ValueError, match="gt compares numbers"):
            await agent.put_policy("broken", {"rules": [{"id": "r", "actions": ["event.emit"], "effect": "deny",
                                                         "when": {"payload": {"n": {"gt": "abc"}}}}]})
