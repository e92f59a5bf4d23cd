"""Secret references in brain settings: checked at registration, resolved at use, never recorded.

The vault is the Key Vault fake at the SDK boundary (`tests/unit/azure/fake_keyvault.py`) behind the real
`KeyVaultResolver`; the system is a real one (memory backend) driven over HTTP, so "never recorded" is checked
where a user would look: the agent, its steps, state, events, audit and the log."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ServiceRequestError

from aos.adapters.azure.keyvault import KeyVaultResolver
from aos.api import create_app
from aos.brains import Brains
from aos.brains.base import BrainContext
from aos.brains.references import verify_references
from aos.config import Config
from aos.errors import BrainError, NotConfigured
from aos.model import AgentSpec, Event
from aos.runtime import System
from aos.secrets import EnvSecretResolver, Secret, SecretResolver

from ..azure.fake_keyvault import FakeSecrets
from . import secret_brains

pytestmark = pytest.mark.anyio
VALUE = "tok-live-5f3a9c0e1d2b"
ADMIN = "test-admin-key-0123456789"
CONFIG = Config(backend="memory", admin_key=ADMIN, default_tenant="acme", sweep_interval_s=0.05)


def python_agent(agent_id: str, fn: str, token: str = "@keyvault:api-token") -> dict[str, Any]:
    return {"id": agent_id, "purpose": "call an API",
            "brain": {"kind": "python", "settings": {"entrypoint": f"tests.unit.brains.secret_brains:{fn}",
                                                     "token": token, "region": "eu"}},
            "subscriptions": [{"type": "go"}]}


@pytest.fixture
def vault() -> FakeSecrets:
    return FakeSecrets({"api-token": VALUE})


@pytest.fixture
async def api(vault: FakeSecrets) -> AsyncIterator[httpx.AsyncClient]:
    brains = Brains(CONFIG, secrets=KeyVaultResolver(vault))
    async with System.open(CONFIG, brains=brains) as system, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(system)), base_url="http://aos",
            headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        yield client


async def settled_step(api: httpx.AsyncClient, agent: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            items = (await api.get(f"/api/agents/{agent}/steps")).json()["items"]
            if items and items[0]["status"] in ("done", "failed", "dead"):
                return items[0]  # type: ignore[no-any-return]
            await asyncio.sleep(0.01)


async def everything_recorded(api: httpx.AsyncClient, agent: str) -> str:
    urls = [f"/api/agents/{agent}", f"/api/agents/{agent}/steps", f"/api/agents/{agent}/state", "/api/events",
            "/api/audit", "/api/agents"]
    bodies = []
    for url in urls:
        r = await api.get(url)
        assert r.status_code == 200, (url, r.text)
        bodies.append(r.text)
    return "\n".join(bodies)


async def test_a_reference_resolves_at_use_and_only_the_reference_is_recorded(
        api: httpx.AsyncClient, vault: FakeSecrets, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = await api.post("/api/agents", json=python_agent("caller", "uses_token"))
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["brain"]["settings"]["token"] == "@keyvault:api-token"
    assert (await api.post("/api/events", json={"specversion": "1.0", "type": "go", "source": "t"})).status_code == 202
    step = await settled_step(api, "caller")
    assert step["status"] == "done", step
    assert secret_brains.SEEN["caller"] == VALUE  # the brain had the value...
    assert "Secret('api-token', ***)" in step["decision"]["effects"][0]["text"]
    recorded = await everything_recorded(api, "caller")
    assert "@keyvault:api-token" in recorded
    assert VALUE not in recorded and VALUE not in caplog.text  # ...nothing else did
    assert vault.calls == 1  # checked at registration; the step used the cached value


async def test_a_decision_holding_a_value_fails_the_step_and_records_no_value(
        api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert (await api.post("/api/agents", json=python_agent("leaky", "leaks_token"))).status_code == 201
    await api.post("/api/agents/leaky/messages", json={"type": "go"})
    step = await settled_step(api, "leaky")
    assert step["status"] != "done" and "holding the value of a secret" in step["error"]
    recorded = await everything_recorded(api, "leaky")
    assert VALUE not in recorded and VALUE not in caplog.text


async def test_an_error_quoting_a_value_is_scrubbed(api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
                                                    ) -> None:
    caplog.set_level(logging.DEBUG)
    assert (await api.post("/api/agents", json=python_agent("raiser", "raises_with_token"))).status_code == 201
    await api.post("/api/agents/raiser/messages", json={"type": "go"})
    step = await settled_step(api, "raiser")
    assert "API refused token <api-token:***>" in step["error"]
    recorded = await everything_recorded(api, "raiser")
    assert VALUE not in recorded and VALUE not in caplog.text


@pytest.mark.parametrize(("token", "status", "says"), [
    ("@keyvault:bad_name", 422, "brain.settings.token: '@keyvault:bad_name' is not a Key Vault reference"),
    ("@keyvault:missing", 422, "brain.settings.token (@keyvault:missing): Key Vault secret 'missing' does not exist"),
])
async def test_registration_refuses_references_that_cannot_resolve(
        api: httpx.AsyncClient, token: str, status: int, says: str) -> None:
    r = await api.post("/api/agents", json=python_agent("nope", "uses_token", token))
    assert r.status_code == status and says in r.json()["detail"], r.text
    assert (await api.get("/api/agents/nope")).status_code == 404


async def test_a_forbidden_secret_is_refused_with_the_role_to_grant(api: httpx.AsyncClient, vault: FakeSecrets
                                                                    ) -> None:
    vault.denied = {"api-token"}
    r = await api.post("/api/agents", json=python_agent("nope", "uses_token"))
    assert r.status_code == 422 and "Key Vault Secrets User" in r.json()["detail"]


async def test_a_vault_outage_does_not_block_registration_and_the_step_retries(
        api: httpx.AsyncClient, vault: FakeSecrets, caplog: pytest.LogCaptureFixture) -> None:
    vault.error = ServiceRequestError(message="connection reset")
    r = await api.post("/api/agents", json=python_agent("patient", "uses_token"))
    assert r.status_code == 201, r.text
    assert "without verifying its secret references ['@keyvault:api-token']" in caplog.text
    await api.post("/api/agents/patient/messages", json={"type": "go"})
    async with asyncio.timeout(10):  # the step needs the secret: like a storage outage, it is not completed...
        while vault.calls < 3:
            await asyncio.sleep(0.01)
    assert "patient" not in secret_brains.SEEN
    vault.error = None  # ...and when the vault is back, the sweep's retry resolves it
    async with asyncio.timeout(10):
        while secret_brains.SEEN.get("patient") != VALUE:
            await asyncio.sleep(0.01)
    assert (await settled_step(api, "patient"))["status"] == "done"


class SlowVault(SecretResolver):
    async def resolve(self, reference: str) -> Secret:
        await asyncio.sleep(5)
        raise AssertionError("not reached")


async def test_a_vault_that_does_not_answer_does_not_hold_registration(caplog: pytest.LogCaptureFixture) -> None:
    spec = AgentSpec.model_validate(python_agent("slow-one", "uses_token"))
    async with asyncio.timeout(2):
        await verify_references(spec, SlowVault(), timeout_s=0.05)
    assert "no answer within 0s" in caplog.text


# ---------------------------------------------------------------- embedded: the environment


async def test_embedded_reads_a_reference_from_the_environment() -> None:
    resolver = EnvSecretResolver({"AOS_SECRET_API_TOKEN": VALUE})
    assert (await resolver.resolve("@keyvault:api-token")).reveal() == VALUE
    with pytest.raises(NotConfigured, match="set AOS_SECRET_OTHER_KEY .* or AOS_KEYVAULT_URI"):
        await resolver.resolve("@keyvault:other-key")


async def test_the_host_picks_key_vault_only_when_a_vault_is_configured() -> None:
    from contextlib import AsyncExitStack

    from aos.runtime.system import secret_resolver

    async with AsyncExitStack() as stack:
        assert isinstance(await secret_resolver(Config(), stack), EnvSecretResolver)
        kv = await secret_resolver(Config(keyvault_uri="https://aos-x.vault.azure.net/"), stack)
        assert isinstance(kv, KeyVaultResolver) and "aos-x.vault.azure.net" in kv.source


# ---------------------------------------------------------------- the openai brain's endpoint and key


def openai_spec(**settings: Any) -> AgentSpec:
    return AgentSpec.model_validate({"id": "thinker", "purpose": "p",
                                     "brain": {"kind": "openai", "settings": {"model": "m", **settings}}})


async def _none() -> None:
    return None


async def decide(brains: Brains, spec: AgentSpec) -> Any:
    brains.check(spec)
    await brains.verify(spec)
    return await brains.build(spec).decide(BrainContext("acme", spec, 1, {}, _none), [Event(source="s", type="x")])


def endpoint(seen: list[httpx.Request], status: int = 200, echo: bool = False) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if status != 200:
            body = {"error": {"message": f"invalid key {request.headers.get('api-key')}" if echo else "no"}}
            return httpx.Response(status, json=body)
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": "ok"}}]})
    return httpx.MockTransport(answer)


async def test_openai_api_key_reference_is_sent_as_the_key() -> None:
    seen: list[httpx.Request] = []
    config = Config(openai_base_url="https://models.example/v1", openai_api_key="sk-host")
    brains = Brains(config, openai_transport=endpoint(seen), secrets=KeyVaultResolver(FakeSecrets({"k": VALUE})))
    decision = await decide(brains, openai_spec(api_key="@keyvault:k"))
    await brains.aclose()
    assert decision.summary == "ok"
    assert seen[0].headers["authorization"] == f"Bearer {VALUE}" and str(seen[0].url).startswith("https://models")


async def test_an_agents_own_endpoint_never_gets_the_hosts_key() -> None:
    seen: list[httpx.Request] = []
    config = Config(openai_base_url="https://models.example/v1", openai_api_key="sk-host")
    vault = FakeSecrets({"my-url": "https://mine.example/v1"})
    brains = Brains(config, openai_transport=endpoint(seen), secrets=KeyVaultResolver(vault))
    await decide(brains, openai_spec(base_url="@keyvault:my-url"))
    await brains.aclose()
    assert str(seen[0].url) == "https://mine.example/v1/chat/completions"
    assert "authorization" not in seen[0].headers and "sk-host" not in str(seen[0].headers)


async def test_an_endpoint_echoing_the_key_is_scrubbed_from_the_error() -> None:
    vault = FakeSecrets({"k": VALUE, "u": "https://secret-host.example/v1"})
    brains = Brains(Config(), openai_transport=endpoint([], status=401, echo=True), secrets=KeyVaultResolver(vault))
    with pytest.raises(BrainError) as info:
        await decide(brains, openai_spec(base_url="@keyvault:u", api_key="@keyvault:k"))
    await brains.aclose()
    assert "401" in str(info.value) and "<k:***>" in str(info.value) and VALUE not in str(info.value)


@pytest.mark.parametrize(("settings", "says"), [
    ({"api_key": "sk-literal"}, "settings.api_key must be a secret reference"),
    ({"base_url": "ftp://x"}, r"settings.base_url must be an http\(s\) URL or a secret reference"),
])
def test_openai_settings_that_would_leak_or_never_work_are_refused(settings: dict[str, Any], says: str) -> None:
    from aos.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match=says):
        Brains(Config(openai_base_url="https://m.example/v1")).check(openai_spec(**settings))


def test_a_settings_dump_prints_no_value() -> None:
    settings = {"token": Secret("api-token", VALUE)}
    assert VALUE not in json.dumps(settings, default=str) and VALUE not in f"{settings}"
