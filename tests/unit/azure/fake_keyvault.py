"""A Key Vault at the thin interface the resolver uses (`SecretsApi.get`): the SDK's errors, a call counter."""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from aos.adapters.azure.keyvault import SecretsApi


def forbidden() -> HttpResponseError:
    e = HttpResponseError(message="Caller is not authorized to perform action on resource (Forbidden)")
    e.status_code = 403
    return e


class FakeSecrets(SecretsApi):
    """The vault as the SDK boundary sees it: 404 for a missing secret, 403 for a secret the identity may
    not read, and a counter of calls (to check the cache)."""

    vault_url = "https://aos-test.vault.azure.net/"

    def __init__(self, secrets: dict[str, str], denied: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.secrets = secrets
        self.denied = denied
        self.calls = 0
        self.error: Exception | None = None

    async def get(self, name: str, version: str | None) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if name in self.denied:
            raise forbidden()
        if name not in self.secrets:
            raise ResourceNotFoundError(message=f"A secret with (name/id) {name} was not found in this key vault")
        return self.secrets[name]

    async def close(self) -> None:
        return None
