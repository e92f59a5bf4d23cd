"""Entra ID access tokens: what is accepted, what is refused (and that refusals never echo the token)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from aos.errors import Forbidden, Unauthorized
from aos.kernel.auth import Caller, looks_like_jwt
from aos.kernel.entra import IdentityProviderUnavailable, caller_from_claims, jwks_url
from aos.model import Role

from .tokens import (
    KID,
    OTHER_TID,
    TID,
    FakeClock,
    FakeJwks,
    b64,
    claims,
    hs256_with_public_key,
    jwk,
    new_key,
    sign,
    unsigned,
    verifier,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture
def jwks(key: rsa.RSAPrivateKey) -> FakeJwks:
    fake = FakeJwks()
    fake.publish(TID, jwk(key, KID))
    return fake


async def refused(jwks: FakeJwks, token: str, fragment: str, **kw: Any) -> None:
    with pytest.raises(Unauthorized) as caught:
        await verifier(jwks, **kw).verify(token)
    detail = caught.value.detail
    assert fragment in detail, detail
    assert token not in detail and not any(len(part) > 8 and part in detail for part in token.split("."))


async def test_a_valid_v2_token_maps_to_a_caller(jwks: FakeJwks, key: rsa.RSAPrivateKey) -> None:
    who = await verifier(jwks).verify(sign(claims(), key))
    assert who == Caller(tenant="acme", role=Role.ADMIN, key_id="entra:aaaaaaaa-0000-0000-0000-00000000000a")
    assert jwks.calls == [jwks_url(TID)]


async def test_a_valid_v1_token_with_the_app_id_uri_is_accepted(jwks: FakeJwks, key: rsa.RSAPrivateKey) -> None:
    who = await verifier(jwks).verify(sign(claims(v1=True, roles=["AOS.Operator"]), key))
    assert who.role is Role.OPERATOR and who.tenant == "acme"


async def test_small_clock_skew_is_tolerated(jwks: FakeJwks, key: rsa.RSAPrivateKey) -> None:
    c = claims()
    await verifier(jwks).verify(sign({**c, "exp": c["iat"] - 20, "iat": c["iat"] - 600}, key))
    await verifier(jwks).verify(sign({**c, "nbf": c["iat"] + 40}, key))


@pytest.mark.parametrize(("case", "fragment"), [
    ("expired", "expired"),
    ("not yet valid", "not valid yet"),
    ("wrong audience", "audience"),
    ("audience of another app in the same tenant", "audience"),
    ("issuer of another tenant", "issuer"),
    ("issuer not Entra", "issuer"),
    ("no exp", "'exp'"),
    ("no nbf", "'nbf'"),
    ("id token (no azp/appid)", "not an access token"),
    ("no tid", "tenant id"),
])
async def test_claims_that_fail_are_401(jwks: FakeJwks, key: rsa.RSAPrivateKey, case: str, fragment: str) -> None:
    c = claims()
    bad = {
        "expired": {"exp": c["iat"] - 300, "iat": c["iat"] - 900, "nbf": c["iat"] - 900},
        "not yet valid": {"nbf": c["iat"] + 600},
        "wrong audience": {"aud": "api://someone-else"},
        "audience of another app in the same tenant": {"aud": "00000003-0000-0000-c000-000000000000"},
        "issuer of another tenant": {"iss": f"https://login.microsoftonline.com/{OTHER_TID}/v2.0"},
        "issuer not Entra": {"iss": "https://evil.example/v2.0"},
        "no exp": {"exp": None},
        "no nbf": {"nbf": None},
        "id token (no azp/appid)": {"azp": None},
        "no tid": {"tid": None},
    }[case]
    payload = {k: v for k, v in {**c, **bad}.items() if v is not None}
    await refused(jwks, sign(payload, key), fragment)


async def test_alg_none_is_refused_before_any_key_lookup(jwks: FakeJwks) -> None:
    await refused(jwks, unsigned(claims()), "RS256")
    await refused(jwks, unsigned(claims(), alg="None"), "RS256")
    assert jwks.calls == []


async def test_hs256_signed_with_the_public_key_is_refused(jwks: FakeJwks, key: rsa.RSAPrivateKey) -> None:
    await refused(jwks, hs256_with_public_key(claims(), key), "RS256")


@pytest.mark.parametrize("alg", ["RS384", "PS256", "ES256", "HS512"])
async def test_other_algorithms_are_refused(jwks: FakeJwks, alg: str) -> None:
    await refused(jwks, unsigned(claims(), alg=alg) + "c2ln", "RS256")


async def test_a_tampered_payload_fails_the_signature(jwks: FakeJwks, key: rsa.RSAPrivateKey) -> None:
    head, _, sig = sign(claims(roles=["AOS.Reader"]), key).split(".")
    forged = b64(json.dumps(claims(roles=["AOS.Admin"])).encode())
    await refused(jwks, f"{head}.{forged}.{sig}", "signature")


async def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(
        jwks: FakeJwks, other_key: rsa.RSAPrivateKey) -> None:
    await refused(jwks, sign(claims(), other_key), "signature")


async def test_a_token_without_kid_is_refused(jwks: FakeJwks, key: rsa.RSAPrivateKey) -> None:
    import jwt

    await refused(jwks, jwt.encode(claims(), key, algorithm="RS256"), "kid")


async def test_garbage_that_looks_like_a_jwt_is_401(jwks: FakeJwks) -> None:
    head = b64(b'{"alg":"RS256","kid":"key-1"}')
    await refused(jwks, f"{head}.!!!notbase64!!!.sig", "malformed")
    await refused(jwks, f"{head}.{b64(b'[1,2]')}.sig", "malformed")


async def test_unknown_kid_refetches_once_then_401(
        jwks: FakeJwks, key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    clock = FakeClock()
    v = verifier(jwks, now=clock)
    await v.verify(sign(claims(), key))  # warm cache
    clock.t += 300
    token = sign(claims(), other_key, kid="rotated")
    for _ in range(3):
        with pytest.raises(Unauthorized, match="signing key is not in the JWKS"):
            await v.verify(token)
    assert jwks.calls == [jwks_url(TID)] * 2, "one refetch for the unknown kid; then the cooldown holds"
    clock.t += 61
    with pytest.raises(Unauthorized):
        await v.verify(token)
    assert len(jwks.calls) == 3


async def test_a_cold_cache_fetches_once_for_an_unknown_kid(jwks: FakeJwks, other_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(Unauthorized, match="signing key is not in the JWKS"):
        await verifier(jwks).verify(sign(claims(), other_key, kid="rotated"))
    assert len(jwks.calls) == 1, "the keys were just fetched: fetching again would learn nothing"


async def test_a_rolled_key_is_picked_up_by_the_refetch(
        jwks: FakeJwks, key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    clock = FakeClock()
    v = verifier(jwks, now=clock)
    await v.verify(sign(claims(), key))
    clock.t += 120
    jwks.publish(TID, jwk(key, KID), jwk(other_key, "rolled"))
    assert (await v.verify(sign(claims(), other_key, kid="rolled"))).role is Role.ADMIN
    assert len(jwks.calls) == 2


async def test_keys_are_cached_for_the_ttl(jwks: FakeJwks, key: rsa.RSAPrivateKey) -> None:
    clock = FakeClock()
    v = verifier(jwks, now=clock)
    for _ in range(5):
        await v.verify(sign(claims(), key))
    assert len(jwks.calls) == 1
    clock.t += 3601
    await v.verify(sign(claims(), key))
    assert len(jwks.calls) == 2


async def test_concurrent_cold_requests_fetch_once(jwks: FakeJwks, key: rsa.RSAPrivateKey) -> None:
    v = verifier(jwks)
    token = sign(claims(), key)
    results = await asyncio.gather(*(v.verify(token) for _ in range(10)))
    assert {r.role for r in results} == {Role.ADMIN} and len(jwks.calls) == 1


async def test_jwks_unreachable_is_503_without_cache_and_stale_keys_serve_otherwise(
        jwks: FakeJwks, key: rsa.RSAPrivateKey) -> None:
    jwks.down = True
    with pytest.raises(IdentityProviderUnavailable, match="retry later") as caught:
        await verifier(jwks).verify(sign(claims(), key))
    assert caught.value.status == 503
    jwks.down = False
    jwks.calls.clear()
    clock = FakeClock()
    v = verifier(jwks, now=clock)
    await v.verify(sign(claims(), key))
    jwks.down = True
    clock.t += 3601
    assert (await v.verify(sign(claims(), key))).role is Role.ADMIN
    assert (await v.verify(sign(claims(), key))).role is Role.ADMIN
    assert len(jwks.calls) == 2, "a failed refresh is retried after the cooldown, not on every request"


async def test_tokens_from_other_entra_tenants_are_refused_without_a_fetch(
        jwks: FakeJwks, other_key: rsa.RSAPrivateKey) -> None:
    jwks.publish(OTHER_TID, jwk(other_key, KID))
    await refused(jwks, sign(claims(OTHER_TID), other_key), "not accepted here")
    assert jwks.calls == []


async def test_a_mapped_second_tenant_acts_in_its_aos_tenant(
        jwks: FakeJwks, key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    jwks.publish(OTHER_TID, jwk(other_key, KID))
    v = verifier(jwks, tenants={TID: "acme", OTHER_TID: "globex"})
    assert (await v.verify(sign(claims(OTHER_TID), other_key))).tenant == "globex"
    assert (await v.verify(sign(claims(TID), key))).tenant == "acme"
    # each tenant's token verifies only against its own tenant's keys
    with pytest.raises(Unauthorized, match="signature"):
        await v.verify(sign(claims(OTHER_TID), key))
    assert sorted(jwks.calls) == sorted([jwks_url(TID), jwks_url(OTHER_TID)])


@pytest.mark.parametrize(("roles", "expected"), [
    (["AOS.Admin"], (Role.ADMIN, None)),
    (["AOS.Operator"], (Role.OPERATOR, None)),
    (["AOS.Reader"], (Role.READER, None)),
    (["AOS.Agent.triage"], (Role.AGENT, "triage")),
    (["AOS.Reader", "AOS.Admin", "Other.Role"], (Role.ADMIN, None)),
    (["AOS.Reader", "AOS.Operator"], (Role.OPERATOR, None)),
    (["AOS.Reader", "AOS.Agent.triage"], (Role.AGENT, "triage")),
])
def test_app_roles_map_to_aos_roles(roles: list[str], expected: tuple[Role, str | None]) -> None:
    who = caller_from_claims(claims(roles=roles), "acme")
    assert (who.role, who.agent_id) == expected and who.tenant == "acme"


@pytest.mark.parametrize(("roles", "fragment"), [
    (None, "no AOS app role"),
    ([], "no AOS app role"),
    (["Other.Role", "aos.admin"], "no AOS app role"),
    (["AOS.Agent"], "no AOS app role"),
    (["AOS.Agent.triage", "AOS.Agent.billing"], "several"),
    (["AOS.Agent.Not_A_Slug"], "valid agent id"),
])
def test_a_verified_token_without_a_usable_role_is_403(roles: list[str] | None, fragment: str) -> None:
    c = claims(roles=roles or [])
    if roles is None:
        del c["roles"]
    with pytest.raises(Forbidden, match=fragment):
        caller_from_claims(c, "acme")


async def test_missing_roles_end_to_end_is_forbidden(jwks: FakeJwks, key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(Forbidden):
        await verifier(jwks).verify(sign(claims(roles=[]), key))


@pytest.mark.parametrize("make", [
    lambda: "aos_0123456789ab_" + "x" * 32,
    lambda: "test-admin-key-0123456789",
    lambda: "a.b.c",
    lambda: "not base64!.x.y",
])
def test_api_keys_do_not_look_like_jwts(make: Callable[[], str]) -> None:
    assert not looks_like_jwt(make())


def test_jwts_look_like_jwts(key: rsa.RSAPrivateKey) -> None:
    assert looks_like_jwt(sign(claims(), key)) and looks_like_jwt(unsigned(claims()))
