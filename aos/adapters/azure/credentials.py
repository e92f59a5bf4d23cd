"""Where the Azure adapters connect and as whom: Functions-style settings in, endpoints and credentials out.

Decision: in Azure every client authenticates with `DefaultAzureCredential` (azure.identity.aio: managed
identity in Functions, `az login` / environment on a workstation); connection strings are accepted only for
emulators (`emulator=True`), so a deployed app can never silently fall back to an account key.

Names follow the Azure Functions identity-based connection conventions:
- Storage: `AzureWebJobsStorage__accountName` → `https://{account}.{blob|queue|table}.core.windows.net`, or the
  explicit `AzureWebJobsStorage__blobServiceUri` / `__queueServiceUri` / `__tableServiceUri`; emulator mode reads
  the `AzureWebJobsStorage` connection string (`UseDevelopmentStorage=true` means Azurite on its default ports).
- Service Bus: `ServiceBusConnection__fullyQualifiedNamespace`. Key Vault: `AOS_KEYVAULT_URI`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aos.errors import NotConfigured

Service = Literal["blob", "queue", "table"]
STORAGE_API_VERSION = "2025-11-05"  # the newest Azurite 3.35 accepts; the SDKs default to newer ones
DEV_STORAGE = "UseDevelopmentStorage=true"


@dataclass(frozen=True)
class StorageTarget:
    """One storage account: either a connection string (emulators) or per-service endpoints + a credential."""

    connection_string: str | None = field(default=None, repr=False)
    endpoints: Mapping[str, str] = field(default_factory=dict)

    @property
    def emulator(self) -> bool:
        return self.connection_string is not None

    def endpoint(self, service: Service) -> str:
        if service not in self.endpoints:
            raise NotConfigured(f"no {service} endpoint: set AzureWebJobsStorage__{service}ServiceUri or "
                                "AzureWebJobsStorage__accountName", setting="AzureWebJobsStorage__accountName")
        return self.endpoints[service]

    def __repr__(self) -> str:  # never show an account key
        return f"StorageTarget(emulator={self.emulator}, endpoints={dict(self.endpoints)})"


def storage_target(env: Mapping[str, str], *, emulator: bool) -> StorageTarget:
    """Read the storage settings; `NotConfigured` names the setting to set."""
    if emulator:
        conn = env.get("AzureWebJobsStorage") or DEV_STORAGE
        return StorageTarget(connection_string=expand_dev_storage(conn))
    account = env.get("AzureWebJobsStorage__accountName")
    endpoints = {s: env[f"AzureWebJobsStorage__{s}ServiceUri"] for s in ("blob", "queue", "table")
                 if env.get(f"AzureWebJobsStorage__{s}ServiceUri")}
    if account:
        for s in ("blob", "queue", "table"):
            endpoints.setdefault(s, f"https://{account}.{s}.core.windows.net")
    if not endpoints:
        raise NotConfigured("storage account not configured: set AzureWebJobsStorage__accountName (identity-based; "
                            "connection strings are only for emulators)", setting="AzureWebJobsStorage__accountName")
    return StorageTarget(endpoints=endpoints)


def expand_dev_storage(conn: str) -> str:
    """`UseDevelopmentStorage=true[;DevelopmentStorageProxyUri=...]` → an explicit Azurite connection string."""
    if not conn.strip().lower().startswith(DEV_STORAGE.lower()):
        return conn
    from aos.adapters.azure.factory.emulators import azurite_connection_string

    return azurite_connection_string()


def servicebus_namespace(env: Mapping[str, str]) -> str:
    value = env.get("ServiceBusConnection__fullyQualifiedNamespace")
    if not value:
        raise NotConfigured("Service Bus namespace not configured: set ServiceBusConnection__fullyQualifiedNamespace "
                            "(NAME.servicebus.windows.net)", setting="ServiceBusConnection__fullyQualifiedNamespace")
    return value


def keyvault_uri(env: Mapping[str, str]) -> str:
    value = env.get("AOS_KEYVAULT_URI")
    if not value:
        raise NotConfigured("Key Vault not configured: set AOS_KEYVAULT_URI (https://NAME.vault.azure.net/)",
                            setting="AOS_KEYVAULT_URI")
    return value


def default_credential(**kwargs: Any) -> Any:
    """`DefaultAzureCredential` (async). Imported lazily: embedded runs never load azure-identity."""
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(**kwargs)
