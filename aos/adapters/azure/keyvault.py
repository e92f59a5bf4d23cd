"""Key Vault secret references (`@keyvault:NAME` or `@keyvault:NAME/VERSION`), resolved at use.

Agent specs and brain settings name secrets instead of holding them: `{"api_key": "@keyvault:openai-key"}`.
`KeyVaultResolver.resolve_tree(settings)` replaces every reference in a JSON-like value with a `Secret` read
from the vault (`azure.keyvault.secrets.aio`, as the app's identity), cached for `ttl_s` seconds so a busy
agent does not call the vault on every step, and so a rotated secret is picked up within the TTL.

A `Secret` never shows its value: `repr`, `str` and f-strings print `Secret('NAME', ***)`, so a settings dict
that ends up in a log line or an error message leaks nothing; the one way to the value is `reveal()`.
Failures are `NotConfigured` errors naming the secret and what to do (404: create it; 403: grant the role);
anything else is a `StorageError`. Neither ever includes a value.

`Secret`, the reference syntax and the `SecretResolver` port live in `aos.secrets` (re-exported here).
`SecretsApi` is the thin layer over the one SDK call used (`get_secret`), so tests put a fake there.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)

from aos.errors import NotConfigured, StorageError
from aos.secrets import PREFIX, Secret, SecretResolver, is_reference, parse_reference

DEFAULT_TTL_S = 300.0


class SecretsApi(abc.ABC):
    vault_url: str

    @abc.abstractmethod
    async def get(self, name: str, version: str | None) -> str:
        """The secret's value. Raises the SDK's errors (ResourceNotFoundError, HttpResponseError 403, ...)."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class SdkSecretsApi(SecretsApi):
    def __init__(self, client: Any) -> None:
        self._client = client
        self.vault_url = str(client.vault_url)

    async def get(self, name: str, version: str | None) -> str:
        secret = await self._client.get_secret(name, version)
        return str(secret.value)

    async def close(self) -> None:
        await self._client.close()


class KeyVaultResolver(SecretResolver):
    def __init__(self, api: SecretsApi, *, ttl_s: float = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.source = f"Key Vault {api.vault_url}"
        self.ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[tuple[str, str | None], tuple[float, Secret]] = {}

    async def resolve(self, reference: str) -> Secret:
        name, version = parse_reference(reference)
        now = self._clock()
        cached = self._cache.get((name, version))
        if cached is not None and cached[0] > now:
            return cached[1]
        secret = Secret(name, await self._fetch(name, version))
        self._cache[(name, version)] = (now + self.ttl_s, secret)
        return secret

    async def _fetch(self, name: str, version: str | None) -> str:
        vault = self.api.vault_url
        try:
            return await self.api.get(name, version)
        except ResourceNotFoundError:
            raise NotConfigured(f"Key Vault secret '{name}' does not exist in {vault}: create it "
                                f"(az keyvault secret set --vault-name VAULT --name {name} --value ...)",
                                secret=name) from None
        except ClientAuthenticationError as e:
            raise NotConfigured(f"cannot authenticate to Key Vault {vault} for secret '{name}': sign in (az login) "
                                "or give the app a managed identity", secret=name) from e
        except HttpResponseError as e:
            if e.status_code == 403:
                raise NotConfigured(f"the app's identity may not read secret '{name}' in {vault}: grant it the "
                                    "'Key Vault Secrets User' role on the vault", secret=name) from None
            raise StorageError(f"Key Vault read of secret '{name}' failed [{vault}]: HTTP {e.status_code}") from e
        except AzureError as e:
            raise StorageError(f"Key Vault read of secret '{name}' failed [{vault}]: {type(e).__name__}") from e

    def clear(self) -> None:
        self._cache.clear()

    async def close(self) -> None:
        self._cache.clear()
        await self.api.close()


def open_keyvault(vault_url: str, *, credential: Any) -> KeyVaultResolver:
    """A resolver on the vault at `vault_url` (`AOS_KEYVAULT_URI`), as `credential` (the caller closes it)."""
    from azure.keyvault.secrets.aio import SecretClient

    return KeyVaultResolver(SdkSecretsApi(SecretClient(vault_url, credential)))


__all__ = ["PREFIX", "KeyVaultResolver", "Secret", "SecretsApi", "is_reference", "open_keyvault",
           "parse_reference"]
