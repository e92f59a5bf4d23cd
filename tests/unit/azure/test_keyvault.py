"""Key Vault references: resolved at use, cached for a TTL, never printed, clear errors on 404/403."""

from __future__ import annotations

import logging

import pytest
from azure.core.exceptions import ServiceRequestError

from aos.adapters.azure.keyvault import KeyVaultResolver, Secret
from aos.errors import NotConfigured, StorageError

from .fake_keyvault import FakeSecrets

pytestmark = pytest.mark.anyio
VALUE = "sk-live-0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_references_in_settings_resolve_to_secrets_that_never_print(caplog: pytest.LogCaptureFixture) -> None:
    resolver = KeyVaultResolver(FakeSecrets({"openai-key": VALUE}))
    settings = {"model": "gpt", "api_key": "@keyvault:openai-key", "headers": [{"x": "@keyvault:openai-key"}]}
    resolved = await resolver.resolve_tree(settings)
    assert resolved["model"] == "gpt"
    assert resolved["api_key"].reveal() == VALUE
    assert resolved["headers"][0]["x"] == resolved["api_key"]
    caplog.set_level(logging.DEBUG)
    logging.getLogger("aos.test").info("settings: %s / %r / %s", resolved, resolved, f"{resolved['api_key']}")
    assert VALUE not in caplog.text and VALUE not in repr(resolved) and VALUE not in str(resolved)
    assert "Secret('openai-key', ***)" in caplog.text
    assert settings["api_key"] == "@keyvault:openai-key"  # the input is not changed


async def test_values_are_cached_for_the_ttl_then_read_again() -> None:
    api, clock = FakeSecrets({"k": "v1"}), Clock()
    resolver = KeyVaultResolver(api, ttl_s=60, clock=clock)
    assert (await resolver.resolve("@keyvault:k")).reveal() == "v1"
    api.secrets["k"] = "v2"  # rotated
    clock.now += 59
    assert (await resolver.resolve("@keyvault:k")).reveal() == "v1"
    clock.now += 2
    assert (await resolver.resolve("@keyvault:k")).reveal() == "v2"
    assert api.calls == 2


async def test_a_missing_secret_says_to_create_it() -> None:
    resolver = KeyVaultResolver(FakeSecrets({}))
    with pytest.raises(NotConfigured, match="'nope' does not exist in https://aos-test.vault.azure.net/: create it"):
        await resolver.resolve("@keyvault:nope")


async def test_a_forbidden_secret_says_which_role_to_grant() -> None:
    resolver = KeyVaultResolver(FakeSecrets({"k": VALUE}, denied={"k"}))
    with pytest.raises(NotConfigured, match="Key Vault Secrets User") as info:
        await resolver.resolve("@keyvault:k")
    assert VALUE not in str(info.value)


async def test_failures_are_not_cached_and_outages_are_storage_errors() -> None:
    api = FakeSecrets({"k": VALUE})
    resolver = KeyVaultResolver(api)
    api.error = ServiceRequestError(message="connection reset")
    with pytest.raises(StorageError, match="secret 'k'"):
        await resolver.resolve("@keyvault:k")
    api.error = None
    assert (await resolver.resolve("@keyvault:k")).reveal() == VALUE


@pytest.mark.parametrize("ref", ["@keyvault:", "@keyvault:bad name", "@keyvault:a/notaversion", "@keyvault:a_b"])
async def test_malformed_references_are_refused_without_calling_the_vault(ref: str) -> None:
    api = FakeSecrets({})
    with pytest.raises(NotConfigured, match="not a Key Vault reference"):
        await KeyVaultResolver(api).resolve(ref)
    assert api.calls == 0


def test_a_secret_cannot_be_pickled() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret("k", VALUE))
