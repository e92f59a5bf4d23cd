"""infra/README.md ("Deploy to Azure") says only what the code and the Bicep support.

Its commands need a subscription, so they cannot run here; instead each piece they rely on is checked: the
request bodies it sends validate against the wire models, every `-p name=value` is a parameter of
main.bicep, and every output it names exists.
"""

from __future__ import annotations

import json
import re

import pytest

from aos.config import SETTINGS
from aos.model import AgentSpec, Event
from tests.infra import bicep

README = bicep.INFRA / "README.md"


def shell_blocks() -> str:
    return "\n".join(re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL))


def curl_bodies() -> dict[str, dict[str, object]]:
    """The JSON body of each `curl ... -X POST <url> ... -d '<json>'`, by URL path."""
    bodies = {}
    for cmd in re.split(r"\n(?=curl )", shell_blocks()):
        url = re.search(r'"https://\$HOST(/api/[^"?]*)', cmd)
        body = re.search(r"-d '(.*?)'", cmd, flags=re.DOTALL)
        if url and body:
            bodies[url.group(1)] = json.loads(body.group(1))
    return bodies


def test_register_body_is_a_valid_agent_spec() -> None:
    AgentSpec.model_validate(curl_bodies()["/api/agents"])


def test_published_event_is_a_valid_cloudevent() -> None:
    event = Event.model_validate(curl_bodies()["/api/events"])
    spec = AgentSpec.model_validate(curl_bodies()["/api/agents"])
    assert any(s.type == event.type for s in spec.subscriptions), (
        "the sample event must wake the sample agent"
    )


def test_parameter_overrides_name_main_parameters() -> None:
    declared = bicep.parameters(bicep.MAIN)
    named = set(re.findall(r"-p ([a-z]\w*)=", README.read_text()))
    assert named, "README shows no parameter override"
    assert named <= declared.keys(), (
        f"README overrides parameters main.bicep lacks: {sorted(named - declared.keys())}"
    )


@pytest.mark.parametrize("output", sorted(set(re.findall(r"`([A-Z][A-Z_]+[A-Z])`", README.read_text()))))
def test_outputs_named_exist(output: str) -> None:
    outputs = bicep.parse(bicep.MAIN).get("outputs") or {}
    settings = {s.name for s in bicep.app_settings()} | {s.name for s in SETTINGS}
    assert output in outputs or output in settings, f"README names {output}: neither an output nor a setting"


def test_deploy_command_uses_the_real_files() -> None:
    blocks = shell_blocks()
    assert 'az deployment group create -g "$RG" -f infra/main.bicep -p infra/main.parameters.json' in blocks
    assert 'func azure functionapp publish "$APP"' in blocks
