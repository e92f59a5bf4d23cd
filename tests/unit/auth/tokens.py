"""Locally minted Entra-shaped access tokens and a JWKS served by a fake fetch (no network)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from aos.kernel.entra import EntraSettings, EntraVerifier, jwks_url

TID = "11111111-2222-3333-4444-555555555555"
OTHER_TID = "99999999-8888-7777-6666-555555555555"
CLIENT_ID = "0f0f0f0f-aaaa-bbbb-cccc-121212121212"
APP_ID_URI = "api://aos-test"
KID = "key-1"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


def claims(tid: str = TID, *, roles: list[str] | None = None, v1: bool = False, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "aud": APP_ID_URI if v1 else CLIENT_ID,
        "iss": f"https://sts.windows.net/{tid}/" if v1 else f"https://login.microsoftonline.com/{tid}/v2.0",
        "iat": now - 10, "nbf": now - 10, "exp": now + 600,
        "tid": tid, "oid": "aaaaaaaa-0000-0000-0000-00000000000a", "sub": "subject-1",
        ("appid" if v1 else "azp"): "cccccccc-0000-0000-0000-00000000000c",
        "ver": "1.0" if v1 else "2.0",
        "roles": ["AOS.Admin"] if roles is None else roles,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: rsa.RSAPrivateKey, kid: str = KID, **headers: Any) -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid, **headers})


def unsigned(payload: dict[str, Any], alg: str = "none", kid: str = KID) -> str:
    head = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    return f"{head}.{b64(json.dumps(payload).encode())}."


def hs256_with_public_key(payload: dict[str, Any], key: rsa.RSAPrivateKey, kid: str = KID) -> str:
    """The classic key-confusion forgery: HMAC keyed with the (public) RSA key bytes."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(payload).encode())
    mac = hmac.new(public_pem(key), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


@dataclass
class FakeJwks:
    """Serves JWKS documents by URL like login.microsoftonline.com would, and counts fetches."""

    keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    down: bool = False

    def publish(self, tid: str, *jwks: dict[str, Any]) -> None:
        self.keys[jwks_url(tid)] = list(jwks)

    async def __call__(self, url: str) -> Any:
        self.calls.append(url)
        if self.down:
            raise httpx.ConnectError("login.microsoftonline.com unreachable")
        if url not in self.keys:
            raise httpx.HTTPStatusError("404", request=httpx.Request("GET", url),
                                        response=httpx.Response(404))
        return {"keys": self.keys[url]}


@dataclass
class FakeClock:
    t: float = 1000.0

    def __call__(self) -> float:
        return self.t


def verifier(fetch: FakeJwks, *, tenants: dict[str, str] | None = None, now: FakeClock | None = None,
             ) -> EntraVerifier:
    settings = EntraSettings(TID, (CLIENT_ID, APP_ID_URI), tenants or {TID: "acme"})
    return EntraVerifier(settings, fetch=fetch, now=now or FakeClock())
