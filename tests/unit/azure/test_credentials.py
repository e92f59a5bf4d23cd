"""Functions-style settings → storage endpoints; connection strings only for emulators; clear errors."""

from __future__ import annotations

import pytest

from aos.adapters.azure.credentials import keyvault_uri, servicebus_namespace, storage_target
from aos.adapters.azure.factory.emulators import AZURITE_KEY
from aos.errors import NotConfigured


def test_account_name_gives_the_three_service_endpoints() -> None:
    target = storage_target({"AzureWebJobsStorage__accountName": "aosdata"}, emulator=False)
    assert target.endpoint("blob") == "https://aosdata.blob.core.windows.net"
    assert target.endpoint("queue") == "https://aosdata.queue.core.windows.net"
    assert target.endpoint("table") == "https://aosdata.table.core.windows.net"
    assert not target.emulator


def test_explicit_service_uris_win() -> None:
    env = {"AzureWebJobsStorage__accountName": "a", "AzureWebJobsStorage__blobServiceUri": "https://x.example/"}
    assert storage_target(env, emulator=False).endpoint("blob") == "https://x.example/"


def test_azure_mode_ignores_connection_strings_and_names_the_setting() -> None:
    with pytest.raises(NotConfigured, match="AzureWebJobsStorage__accountName") as info:
        storage_target({"AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountKey=x"}, emulator=False)
    assert info.value.attrs["setting"] == "AzureWebJobsStorage__accountName"


def test_emulator_mode_expands_use_development_storage_and_never_prints_the_key() -> None:
    target = storage_target({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, emulator=True)
    assert target.connection_string is not None and "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1" in (
        target.connection_string)
    assert AZURITE_KEY not in repr(target)
    assert storage_target({}, emulator=True).connection_string == target.connection_string


def test_service_bus_and_key_vault_name_their_settings() -> None:
    with pytest.raises(NotConfigured, match="ServiceBusConnection__fullyQualifiedNamespace"):
        servicebus_namespace({})
    with pytest.raises(NotConfigured, match="AOS_KEYVAULT_URI"):
        keyvault_uri({})
    assert servicebus_namespace({"ServiceBusConnection__fullyQualifiedNamespace": "n.servicebus.windows.net"})
