"""Entra ID tokens over HTTP: beside API keys, mapped to the right tenant and role, refused cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from aos.api import create_app
from aos.config import Config
from aos.errors import NotConfigured
from aos.kernel import KeyService
from aos.runtime import System
from aos.runtime.system import entra_verifier
from tests.unit.api.conftest import ADMIN, agent_body

from .tokens import KID, OTHER_TID, TID, FakeJwks, claims, jwk, new_key, sign, unsigned, verifier

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture
async def system(key: rsa.RSAPrivateKey) -> AsyncIterator[System]:
    jwks = FakeJwks()
    jwks.publish(TID, jwk(key, KID))
    async with System.open(Config(backend="memory", admin_key=ADMIN, default_tenant="acme")) as sys:
        sys.keys = KeyService(sys.stores.keys, sys.stores.clock, entra=verifier(jwks))
        yield sys


@pytest.fixture
async def api(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(system)),
                                 base_url="http://aos") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_entra_tokens_and_api_keys_work_side_by_side(api: httpx.AsyncClient, key: rsa.RSAPrivateKey) -> None:
    assert (await api.post("/api/agents", json=agent_body(), headers=bearer(ADMIN))).status_code == 201
    operator = sign(claims(roles=["AOS.Operator"]), key)
    r = await api.post("/api/agents", json=agent_body("billing"), headers=bearer(operator))
    assert r.status_code == 201 and r.json()["tenant"] == "acme"
    ids = [a["id"] for a in (await api.get("/api/agents", headers=bearer(operator))).json()["items"]]
    assert ids == ["billing", "triage"]


async def test_entra_roles_are_enforced(api: httpx.AsyncClient, key: rsa.RSAPrivateKey) -> None:
    await api.post("/api/agents", json=agent_body(), headers=bearer(ADMIN))
    await api.post("/api/agents", json=agent_body("billing"), headers=bearer(ADMIN))
    reader = sign(claims(roles=["AOS.Reader"]), key)
    agent = sign(claims(roles=["AOS.Agent.triage"]), key)
    assert (await api.get("/api/events", headers=bearer(reader))).status_code == 200
    assert (await api.post("/api/agents", json=agent_body("x-1"), headers=bearer(reader))).status_code == 403
    assert (await api.get("/api/keys", headers=bearer(sign(claims(roles=["AOS.Operator"]), key)))).status_code == 403
    assert (await api.get("/api/agents/triage", headers=bearer(agent))).status_code == 200
    r = await api.get("/api/agents/billing", headers=bearer(agent))
    assert r.status_code == 403
    listed = (await api.get("/api/agents", headers=bearer(agent))).json()["items"]
    assert [a["id"] for a in listed] == ["triage"]
    r = await api.get("/api/agents", headers=bearer(sign(claims(roles=[]), key)))
    assert r.status_code == 403 and "AOS.Reader" in r.json()["detail"]


async def test_refused_tokens_are_401_problems_that_do_not_echo_the_token(
        api: httpx.AsyncClient, key: rsa.RSAPrivateKey) -> None:
    c = claims()
    bad = [
        sign({**c, "exp": c["iat"] - 300, "nbf": c["iat"] - 900}, key),
        sign({**c, "aud": "api://other"}, key),
        sign({**c, "iss": f"https://login.microsoftonline.com/{OTHER_TID}/v2.0"}, key),
        sign(claims(OTHER_TID), key),
        unsigned(c),
        sign(c, new_key()),
    ]
    for token in bad:
        r = await api.get("/api/agents", headers=bearer(token))
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json") and r.headers["www-authenticate"]
        assert all(part not in r.text for part in token.split(".") if part)


async def test_jwts_are_refused_clearly_when_entra_is_not_configured(key: rsa.RSAPrivateKey) -> None:
    async with System.open(Config(backend="memory", admin_key=ADMIN, default_tenant="acme")) as sys:
        transport = httpx.ASGITransport(app=create_app(sys))
        async with httpx.AsyncClient(transport=transport, base_url="http://aos") as api:
            token = sign(claims(), key)
            r = await api.get("/api/agents", headers=bearer(token))
            assert r.status_code == 401 and "Entra ID is not configured" in r.json()["detail"]
            assert "AOS_ENTRA_AUDIENCE" in r.json()["detail"] and token not in r.text
            assert (await api.get("/api/agents", headers=bearer(ADMIN))).status_code == 200


def test_settings_build_the_verifier() -> None:
    env = {"AOS_ENTRA_TENANT_ID": TID.upper(), "AOS_ENTRA_AUDIENCE": "api://aos, 0f0f0f0f-aaaa",
           "AOS_ENTRA_TENANTS": f"{OTHER_TID}=globex", "AOS_DEFAULT_TENANT": "acme"}
    v = entra_verifier(Config.load(env))
    assert v is not None
    assert v.settings.audiences == ("api://aos", "0f0f0f0f-aaaa")
    assert dict(v.settings.tenants) == {TID: "acme", OTHER_TID: "globex"}
    remapped = entra_verifier(Config.load({**env, "AOS_ENTRA_TENANTS": f"{TID}=home"}))
    assert remapped is not None and dict(remapped.settings.tenants) == {TID: "home"}
    assert entra_verifier(Config.load({"AOS_ENTRA_TENANT_ID": TID})) is None, "no audience: not configured"
    assert entra_verifier(Config.load({})) is None


@pytest.mark.parametrize(("env", "setting"), [
    ({"AOS_ENTRA_TENANT_ID": "contoso.onmicrosoft.com"}, "AOS_ENTRA_TENANT_ID"),
    ({"AOS_ENTRA_TENANTS": "globex"}, "AOS_ENTRA_TENANTS"),
    ({"AOS_ENTRA_TENANTS": f"{OTHER_TID}=Not A Slug"}, "AOS_ENTRA_TENANTS"),
    ({"AOS_ENTRA_TENANTS": "nope=globex"}, "AOS_ENTRA_TENANTS"),
])
def test_malformed_entra_settings_name_the_setting(env: dict[str, str], setting: str) -> None:
    with pytest.raises(NotConfigured) as caught:
        Config.load(env)
    assert caught.value.attrs["setting"] == setting
