"""`infra/` is identity-only: no key, SAS or connection string is read or stored, local auth is off on every
data service, secrets reach the app only as Key Vault references, and the app identity holds the data roles
its connections need."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra import bicep

MODULES = bicep.INFRA / "modules"

# Calls and literals that would put a credential into a template, a deployment output or an app setting.
FORBIDDEN = re.compile(
    r"listKeys\(|listConnectionStrings\(|listSecrets\(|listAccountSas\(|listServiceSas\(|"
    r"AccountKey=|SharedAccessKey|InstrumentationKey=|primaryConnectionString|primaryMasterKey",
    re.IGNORECASE,
)

# Settings Flex Consumption rejects or ignores (runtime and scale live in functionAppConfig there), plus the
# key-based storage connection.
FLEX_REJECTED = {
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTOVERVNET",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_DNS_SERVER",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
    "WEBSITE_VNET_ROUTE_ALL",
    "AzureWebJobsStorage",
}

ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Cosmos DB Built-in Data Contributor": "00000000-0000-0000-0000-000000000002",
}


@pytest.mark.parametrize("path", bicep.bicep_files(), ids=bicep.rel)
def test_no_credentials_in_templates(path: Path) -> None:
    code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("//"))
    hits = sorted(set(FORBIDDEN.findall(code)))
    assert not hits, f"{bicep.rel(path)} reads or builds credentials: {hits}"


def _props(path: Path, type_: str) -> list[dict[str, Any]]:
    found = [bicep.body(r).get("properties") or {} for _, r in bicep.resources(path, type_)]
    assert found, f"no {type_} in {bicep.rel(path)}"
    return found


@pytest.mark.parametrize(
    ("module", "type_", "key", "value"),
    [
        ("storage.bicep", "Microsoft.Storage/storageAccounts", "allowSharedKeyAccess", False),
        ("storage.bicep", "Microsoft.Storage/storageAccounts", "allowBlobPublicAccess", False),
        ("servicebus.bicep", "Microsoft.ServiceBus/namespaces", "disableLocalAuth", True),
        ("cosmos.bicep", "Microsoft.DocumentDB/databaseAccounts", "disableLocalAuth", True),
        ("keyvault.bicep", "Microsoft.KeyVault/vaults", "enableRbacAuthorization", True),
        ("keyvault.bicep", "Microsoft.KeyVault/vaults", "enablePurgeProtection", True),
        ("keyvault.bicep", "Microsoft.KeyVault/vaults", "enableSoftDelete", True),
        ("monitoring.bicep", "Microsoft.Insights/components", "DisableLocalAuth", "disableLocalAuth"),
    ],
)
def test_local_auth_is_off(module: str, type_: str, key: str, value: object) -> None:
    for props in _props(MODULES / module, type_):
        assert props.get(key) == value, f"{module}: {type_}.{key} is {props.get(key)!r}, expected {value!r}"


def test_app_insights_local_auth_param_defaults_to_disabled() -> None:
    assert bicep.parameters(MODULES / "monitoring.bicep")["disableLocalAuth"]["default"] is True


def test_function_app_uses_its_system_identity_everywhere() -> None:
    (site,) = [bicep.body(r) for _, r in bicep.resources(bicep.FUNCTION_APP_MODULE, "Microsoft.Web/sites")]
    assert site["identity"]["type"] == "SystemAssigned"
    props = site["properties"]
    assert (
        props["functionAppConfig"]["deployment"]["storage"]["authentication"]["type"]
        == "SystemAssignedIdentity"
    )
    assert props["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert props["httpsOnly"] is True


def test_no_settings_flex_consumption_rejects() -> None:
    rejected = sorted({s.name for s in bicep.app_settings()} & FLEX_REJECTED)
    assert not rejected, f"Flex Consumption rejects (or this would be a key-based connection): {rejected}"


def test_secret_settings_are_key_vault_references() -> None:
    secret = re.compile(r"(_KEY|_SECRET|_PASSWORD|_TOKEN)$")
    for s in bicep.app_settings():
        if secret.search(s.name):
            assert isinstance(s.value, str) and s.value.startswith("@Microsoft.KeyVault(SecretUri="), (
                f"{s.name} ({s.where}) must be a Key Vault reference, got {s.value!r}"
            )


@pytest.mark.parametrize(("role", "role_id"), ROLE_IDS.items())
def test_app_identity_holds_each_data_role(role: str, role_id: str) -> None:
    roles = (MODULES / "roles.bicep").read_text()
    assert role_id in roles, f"roles.bicep does not grant {role} ({role_id})"


def test_role_assignments_are_scoped_to_one_resource() -> None:
    for sym, res in bicep.resources(MODULES / "roles.bicep", "Microsoft.Authorization/roleAssignments"):
        scope = bicep.body(res).get("scope")
        assert isinstance(scope, str) and scope in bicep.parse(MODULES / "roles.bicep")["resources"], (
            f"role assignment {sym} must be scoped to one resource, got {scope!r}"
        )
