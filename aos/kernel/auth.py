"""API keys and callers.

A key looks like `aos_<id>_<secret>`; only SHA-256 of the whole string is stored, so a leaked database leaks
no usable key. The tenant (and for the `agent` role, the agent) of every call comes from the key, never from the
request body. Roles: `admin` manages keys and everything else, `operator` runs agents, `agent` acts as one agent
(its own context, publishing, messaging), `reader` only reads.

A bearer token shaped like a JWT is not looked up as a key: it goes to the Entra ID verifier
(`aos.kernel.entra`) when one is configured, and is refused with a 401 saying so when none is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Protocol

from aos.errors import Forbidden, Unauthorized, ValidationFailed
from aos.model import ApiKeyRecord, Role, validate_slug
from aos.ports import Clock, KeyStore

BOOTSTRAP_KEY_ID = "bootstrap-admin"
ENTRA_NOT_CONFIGURED = ("the bearer token is a JWT, but Entra ID is not configured on this AOS: set "
                        "AOS_ENTRA_TENANT_ID and AOS_ENTRA_AUDIENCE, or send an API key")


@dataclass(frozen=True)
class Caller:
    tenant: str
    role: Role
    key_id: str
    agent_id: str | None = None

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"this call needs role {allowed}; the key '{self.key_id}' has role {self.role.value}")

    def require_agent_access(self, agent_id: str) -> None:
        """An agent-role key may only act as its own agent."""
        if self.role is Role.AGENT and self.agent_id != agent_id:
            raise Forbidden(f"an agent key for '{self.agent_id}' cannot act on agent '{agent_id}'")


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Caller: ...


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_jwt(token: str) -> bool:
    """A compact JWS whose first segment is a JSON header with `alg`. AOS API keys never look like this."""
    if token.count(".") != 2:
        return False
    head = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and "alg" in header


class KeyService:
    def __init__(self, keys: KeyStore, clock: Clock, *, entra: TokenVerifier | None = None) -> None:
        self._keys = keys
        self._clock = clock
        self._entra = entra

    async def issue(
        self, tenant: str, role: Role, *, agent_id: str | None = None, name: str = ""
    ) -> tuple[ApiKeyRecord, str]:
        """Create a key; the secret is returned once and never stored."""
        if role is Role.AGENT:
            if not agent_id:
                raise ValidationFailed("an agent key needs agent_id: the one agent it acts as")
            validate_slug(agent_id, "agent id")
        elif agent_id:
            raise ValidationFailed(f"agent_id is only meaningful for role 'agent', not '{role.value}'")
        key_id = secrets.token_hex(6)
        secret = f"aos_{key_id}_{secrets.token_urlsafe(24)}"
        record = ApiKeyRecord(
            id=key_id, tenant=tenant, role=role, agent_id=agent_id, name=name,
            secret_hash=hash_secret(secret), created_at=self._clock.now(),
        )
        await self._keys.add(record)
        return record, secret

    async def ensure_bootstrap(self, tenant: str, secret: str | None) -> str | None:
        """Make sure an admin key exists for `tenant`.

        With `secret` (AOS_ADMIN_KEY) that exact key becomes the bootstrap admin key. Without it, a key is
        generated and returned (to be printed once) unless a bootstrap key already exists from an earlier
        boot. Returns the secret to print, or None.
        """
        existing = {k.id: k for k in await self._keys.list(tenant)}
        if secret is not None:
            if len(secret) < 16:
                raise ValidationFailed("AOS_ADMIN_KEY must be at least 16 characters")
            found = await self._keys.by_hash(hash_secret(secret))
            if found is None:
                key_id = BOOTSTRAP_KEY_ID if BOOTSTRAP_KEY_ID not in existing else f"admin-{secrets.token_hex(4)}"
                await self._keys.add(ApiKeyRecord(
                    id=key_id, tenant=tenant, role=Role.ADMIN, name="AOS_ADMIN_KEY",
                    secret_hash=hash_secret(secret), created_at=self._clock.now(),
                ))
            return None
        if BOOTSTRAP_KEY_ID in existing and existing[BOOTSTRAP_KEY_ID].revoked_at is None:
            return None
        generated = f"aos_{BOOTSTRAP_KEY_ID}_{secrets.token_urlsafe(24)}"
        if BOOTSTRAP_KEY_ID in existing:
            raise ValidationFailed(
                "the bootstrap admin key was revoked; set AOS_ADMIN_KEY to install a new admin key"
            )
        await self._keys.add(ApiKeyRecord(
            id=BOOTSTRAP_KEY_ID, tenant=tenant, role=Role.ADMIN, name="generated at first boot",
            secret_hash=hash_secret(generated), created_at=self._clock.now(),
        ))
        return generated

    async def authenticate(self, authorization: str | None) -> Caller:
        if not authorization:
            raise Unauthorized("missing Authorization header: send 'Authorization: Bearer <api key>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization must be 'Bearer <api key>'")
        token = token.strip()
        if looks_like_jwt(token):
            if self._entra is None:
                raise Unauthorized(ENTRA_NOT_CONFIGURED)
            return await self._entra.verify(token)
        record = await self._keys.by_hash(hash_secret(token))
        if record is None or not hmac.compare_digest(record.secret_hash, hash_secret(token)):
            raise Unauthorized("unknown API key")
        if record.revoked_at is not None:
            raise Unauthorized(f"API key '{record.id}' was revoked")
        return Caller(tenant=record.tenant, role=record.role, key_id=record.id, agent_id=record.agent_id)

    async def revoke(self, tenant: str, key_id: str) -> ApiKeyRecord:
        return await self._keys.revoke(tenant, key_id, self._clock.now())

    async def list(self, tenant: str) -> list[ApiKeyRecord]:
        return await self._keys.list(tenant)
