"""Entra ID (Azure AD) access tokens as bearer credentials, beside API keys.

A token is accepted only when all of these hold (anything else is a 401 that names the failed check and never
echoes the token):

- the header's `alg` is `RS256` (`none`, `HS256` signed with the public key, and every other algorithm are
  refused before any key is looked at) and it names a `kid`;
- its `tid` is an accepted Entra tenant: the configured `AOS_ENTRA_TENANT_ID` plus the entries of
  `AOS_ENTRA_TENANTS` (`<tid>=<aos-tenant>`); tokens from any other Entra tenant are refused;
- the signature verifies with the key `kid` of that tenant's JWKS
  (`https://login.microsoftonline.com/{tid}/discovery/v2.0/keys`), cached for `ttl_s` and fetched again once
  when a token names a `kid` the cache lacks (at most once per `refetch_after_s`, so random kids cannot turn
  AOS into a JWKS-fetching amplifier);
- `iss` is the tenant's v2 issuer `https://login.microsoftonline.com/{tid}/v2.0` or its v1 issuer
  `https://sts.windows.net/{tid}/` (which one Entra issues depends on the app registration's
  `accessTokenAcceptedVersion`, so both are accepted, each for the token's own `tid` only);
- `aud` is one of `AOS_ENTRA_AUDIENCE` (the app's client id for v2 tokens, its App ID URI for v1 tokens);
- `exp` and `nbf` are present and hold, with `leeway_s` (60 s) of clock skew;
- it is an access token: it carries `azp` (v2) or `appid` (v1). ID tokens have neither and are refused, so
  an ID token issued to the same app registration is never mistaken for an API credential.

App roles (the `roles` claim) map to AOS roles; the most privileged one wins:
`AOS.Admin` → admin, `AOS.Operator` → operator, `AOS.Agent.<agent-id>` → agent acting as `<agent-id>`
(exactly one such role per identity), `AOS.Reader` → reader. A token that verifies but carries none of them is
a 403: the identity is known, it has just not been granted anything. The AOS tenant of the call is the mapping
of the token's `tid`; the caller's key id is `entra:<oid>` (falling back to `sub`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

from aos.errors import AosError, Forbidden, Unauthorized
from aos.kernel.auth import Caller
from aos.model import SLUG, Role

log = logging.getLogger("aos.auth")

AUTHORITY = "https://login.microsoftonline.com"
ALGORITHM = "RS256"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ROLE_ADMIN, ROLE_OPERATOR, ROLE_READER = "AOS.Admin", "AOS.Operator", "AOS.Reader"
AGENT_ROLE_PREFIX = "AOS.Agent."

#: GET a URL and return its JSON body; injectable so tests serve a local JWKS.
JwksFetch = Callable[[str], Awaitable[Any]]


class IdentityProviderUnavailable(AosError):
    """Entra ID's signing keys could not be fetched and none are cached: the token may well be valid."""

    status, kind, title = 503, "identity-provider-unavailable", "Identity provider unavailable"


def jwks_url(tid: str) -> str:
    return f"{AUTHORITY}/{tid}/discovery/v2.0/keys"


def issuers(tid: str) -> tuple[str, str]:
    return f"{AUTHORITY}/{tid}/v2.0", f"https://sts.windows.net/{tid}/"


async def fetch_json(url: str, *, timeout_s: float = 5.0) -> Any:
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.json()


@dataclass(frozen=True)
class EntraSettings:
    """What a deployment trusts. `tenants` maps each accepted Entra tenant id to the AOS tenant it acts in."""

    tenant_id: str
    audiences: tuple[str, ...]
    tenants: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.tenants:
            raise ValueError("EntraSettings needs at least one accepted Entra tenant")


@dataclass
class _Keys:
    fetched_at: float
    by_kid: dict[str, Any]


class EntraVerifier:
    """Turns an Entra ID access token into a `Caller`, or raises Unauthorized / Forbidden."""

    def __init__(self, settings: EntraSettings, *, fetch: JwksFetch = fetch_json, ttl_s: float = 3600.0,
                 refetch_after_s: float = 60.0, leeway_s: float = 60.0,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._fetch = fetch
        self._ttl_s = ttl_s
        self._refetch_after_s = refetch_after_s
        self._leeway_s = leeway_s
        self._now = now
        self._cache: dict[str, _Keys] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def verify(self, token: str) -> Caller:
        kid = self._header_kid(token)
        tid = self._unverified_tid(token)
        key = await self._key(tid, kid)
        if key is None:
            raise Unauthorized(f"the token's signing key is not in the JWKS of Entra tenant {tid}")
        claims = self._decode(token, key, tid)
        if not (claims.get("azp") or claims.get("appid")):
            raise Unauthorized("not an access token (no azp/appid claim): send an access token for AOS's "
                               "API, not an ID token")
        return caller_from_claims(claims, self.settings.tenants[tid])

    @staticmethod
    def _header_kid(token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:
            raise Unauthorized("malformed bearer token: not a compact JWT") from e
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("token algorithm is not accepted: AOS accepts RS256-signed Entra ID tokens only")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("token header has no 'kid': cannot pick a signing key")
        return kid

    def _unverified_tid(self, token: str) -> str:
        """The `tid` only chooses which tenant's keys to verify with; the signature check follows."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as e:
            raise Unauthorized("malformed bearer token: the payload is not JSON claims") from e
        tid = unverified.get("tid")
        if not isinstance(tid, str) or not GUID.match(tid):
            raise Unauthorized("token has no Entra tenant id ('tid' claim)")
        if tid not in self.settings.tenants:
            raise Unauthorized(f"tokens from Entra tenant {tid} are not accepted here (see AOS_ENTRA_TENANTS)")
        return tid

    def _decode(self, token: str, key: Any, tid: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=list(self.settings.audiences),
                issuer=issuers(tid), leeway=self._leeway_s,
                options={"require": ["exp", "nbf", "iss", "aud", "tid"]},
            )
        except jwt.ExpiredSignatureError as e:
            raise Unauthorized("token expired: get a new one") from e
        except jwt.ImmatureSignatureError as e:
            raise Unauthorized("token is not valid yet (nbf is in the future)") from e
        except jwt.InvalidAudienceError as e:
            raise Unauthorized("token audience is not this AOS (compare the aud claim with AOS_ENTRA_AUDIENCE)") from e
        except jwt.InvalidIssuerError as e:
            raise Unauthorized(f"token issuer is not Entra tenant {tid} (v1 or v2 endpoint)") from e
        except jwt.InvalidSignatureError as e:
            raise Unauthorized("token signature does not verify") from e
        except jwt.MissingRequiredClaimError as e:
            raise Unauthorized(f"token lacks the required '{e.claim}' claim") from e
        except jwt.InvalidTokenError as e:
            raise Unauthorized("invalid bearer token") from e
        if claims.get("tid") != tid:
            raise Unauthorized("token tenant changed between header check and verification")
        return claims

    async def _key(self, tid: str, kid: str) -> Any:
        entry = self._cache.get(tid)
        if entry is None or self._now() - entry.fetched_at >= self._ttl_s:
            entry = await self._refresh(tid, entry)
        key = entry.by_kid.get(kid)
        if key is None and self._now() - entry.fetched_at >= self._refetch_after_s:
            entry = await self._refresh(tid, entry)  # keys roll: an unknown kid may be a new key
            key = entry.by_kid.get(kid)
        return key

    async def _refresh(self, tid: str, seen: _Keys | None) -> _Keys:
        lock = self._locks.setdefault(tid, asyncio.Lock())
        async with lock:
            current = self._cache.get(tid)
            if current is not None and current is not seen:
                return current  # another request refreshed while this one waited
            try:
                fresh = _Keys(self._now(), parse_jwks(await self._fetch(jwks_url(tid))))
            except (httpx.HTTPError, ValueError, TypeError, KeyError) as e:
                if seen is None:
                    raise IdentityProviderUnavailable(
                        f"could not fetch the signing keys of Entra tenant {tid} ({type(e).__name__}); retry later",
                        tenant_id=tid) from e
                log.warning("JWKS refresh for Entra tenant %s failed (%s); keeping the cached keys", tid, e)
                # retry after the refetch cooldown, not on every request while Entra is unreachable
                fresh = _Keys(self._now() - self._ttl_s + self._refetch_after_s, seen.by_kid)
            self._cache[tid] = fresh
            return fresh


def parse_jwks(document: Any) -> dict[str, Any]:
    """RSA signing keys of a JWKS document by `kid`; other key types are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise TypeError("JWKS document has no 'keys' list")
    keys: dict[str, Any] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        if not isinstance(jwk.get("kid"), str):
            continue
        try:
            keys[jwk["kid"]] = RSAAlgorithm.from_jwk(jwk)
        except jwt.PyJWTError:
            log.warning("skipping JWKS key %s: not a usable RSA public key", jwk["kid"])
    return keys


def caller_from_claims(claims: Mapping[str, Any], tenant: str) -> Caller:
    """Map app roles to one AOS role (admin > operator > agent > reader); none of them is a 403."""
    raw = claims.get("roles")
    roles = {r for r in raw if isinstance(r, str)} if isinstance(raw, list) else set()
    who = str(claims.get("oid") or claims.get("sub") or "unknown")
    key_id = f"entra:{who}"
    if ROLE_ADMIN in roles:
        return Caller(tenant=tenant, role=Role.ADMIN, key_id=key_id)
    if ROLE_OPERATOR in roles:
        return Caller(tenant=tenant, role=Role.OPERATOR, key_id=key_id)
    agents = sorted(r[len(AGENT_ROLE_PREFIX):] for r in roles if r.startswith(AGENT_ROLE_PREFIX))
    if len(agents) > 1:
        raise Forbidden(f"identity '{key_id}' holds several AOS.Agent.<id> app roles; assign it exactly one")
    if agents:
        if not SLUG.match(agents[0]):
            raise Forbidden(f"app role AOS.Agent.{agents[0]} does not name a valid agent id")
        return Caller(tenant=tenant, role=Role.AGENT, key_id=key_id, agent_id=agents[0])
    if ROLE_READER in roles:
        return Caller(tenant=tenant, role=Role.READER, key_id=key_id)
    raise Forbidden(f"identity '{key_id}' has no AOS app role: assign it AOS.Admin, AOS.Operator, AOS.Reader "
                    "or AOS.Agent.<agent-id> in the AOS app registration")
