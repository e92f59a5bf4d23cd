"""One settings object for every host, read from the environment.

Names are `AOS_*` for AOS's own settings and the Azure Functions conventions where Functions defines them
(`AzureWebJobsStorage`, `ServiceBusConnection__fullyQualifiedNamespace`, ...). `SETTINGS` is the single list of
every name the code reads: the README's configuration table, `local.settings.json.example` and the infrastructure
checks are all tested against it, so a setting cannot be read without being documented and provisioned.

With no configuration at all AOS runs embedded: SQLite under `./.aos/`, on 127.0.0.1:7071.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aos.errors import NotConfigured
from aos.model import SLUG

Scope = Literal["local", "azure", "both"]


@dataclass(frozen=True)
class Setting:
    """A setting the code reads. `scope` says where it must be provisioned: `local` settings (ports, data
    directories) are never set in Azure; `azure` ones are set by `infra/`; `both` are set in both places."""

    name: str
    default: str | None
    scope: Scope
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("AOS_BACKEND", "embedded", "both",
            "Storage backend: `embedded` (SQLite), `memory` (nothing persisted), `azure-local` (Azurite + Cosmos "
            "emulator) or `azure`."),
    Setting("AOS_DATA_DIR", ".aos", "local", "Directory of the embedded SQLite database and blobs."),
    Setting("AOS_HOST", "127.0.0.1", "local", "Interface `aos up` listens on."),
    Setting("AOS_PORT", "7071", "local", "Port `aos up` listens on (the Functions default)."),
    Setting("AOS_WORKERS", "16", "local", "Concurrent agent steps in the embedded host."),
    Setting("AOS_ADMIN_KEY", None, "both",
            "Bootstrap admin API key; when unset `aos up` generates one, stores it hashed and prints it once. In "
            "Azure: a Key Vault reference to the secret `aos-admin-key`."),
    Setting("AOS_URL", "http://127.0.0.1:7071", "local", "Where the `aos` CLI finds the API."),
    Setting("AOS_API_KEY", None, "local", "API key the `aos` CLI sends (falls back to AOS_ADMIN_KEY)."),
    Setting("AOS_DEFAULT_TENANT", "default", "both", "Tenant of the bootstrap admin key."),
    Setting("AOS_LOG_LEVEL", "INFO", "both", "Python log level of AOS loggers."),
    Setting("AOS_SCHEDULER_INTERVAL_S", "1.0", "local", "How often the embedded host checks for due cron wakes."),
    Setting("AOS_SWEEP_INTERVAL_S", "5.0", "local",
            "How often the embedded self-heal sweep re-wakes agents with unprocessed mail."),
    Setting("AOS_LOOP_LAG_WARN_MS", "100", "both",
            "Log a warning (with what was running) when the host's event loop (`aos up`, or a Functions worker's) "
            "falls this far behind; `0` turns the watch off. Counted in `/api/health` under `runtime.loop_lag`."),
    Setting("AOS_OPENAI_BASE_URL", None, "both",
            "OpenAI-compatible chat endpoint for `openai` brains (Azure OpenAI: https://NAME.openai.azure.com/"
            "openai/v1)."),
    Setting("AOS_OPENAI_API_KEY", None, "both", "Key for that endpoint (in Azure: a Key Vault reference)."),
    Setting("AOS_OPENAI_MODEL", None, "both", "Default model / deployment name for `openai` brains."),
    Setting("AOS_PYTHON_BRAIN_MODULES", "", "both",
            "Comma-separated module prefixes `python` brains may import from (empty: any importable module)."),
    Setting("AOS_PYTHON_BRAIN_PATH", ".", "local",
            "Directories (separated by `:`) `aos up` adds to the end of its import path, so that `python` brains' "
            "modules load from them; `.` is the directory it runs in. Installed packages come first."),
    # Azure (Functions naming conventions where Functions defines them; identity-based, no keys).
    Setting("AzureWebJobsStorage__accountName", None, "azure",
            "Storage account of the function app (blobs, queues, durable task hub), via managed identity."),
    Setting("CosmosConnection__accountEndpoint", None, "azure", "Cosmos DB account endpoint (managed identity)."),
    Setting("AOS_COSMOS_DATABASE", "aos", "both", "Cosmos DB database holding the AOS containers."),
    Setting("ServiceBusConnection__fullyQualifiedNamespace", None, "azure",
            "Service Bus namespace (NAME.servicebus.windows.net) for topics aos-events / aos-outbox."),
    Setting("AOS_KEYVAULT_URI", None, "azure", "Key Vault of the deployment: App Service resolves the `@Microsoft.KeyVault(...)` settings from it, and "
            "AOS resolves `@keyvault:NAME` references in brain settings from it (without it: env AOS_SECRET_NAME)."),
    Setting("AOS_TASK_HUB", "aos", "azure", "Durable Functions task hub name."),
    Setting("AOS_EVENT_TRANSPORT", None, "both",
            "Event transport of the Azure backends: `servicebus` or `queue` (default: servicebus when a namespace "
            "is set, else Storage Queues; `azure-local` always uses queues on Azurite)."),
    # Local emulators (AOS_BACKEND=azure-local); never set in Azure.
    Setting("AzureWebJobsStorage", "UseDevelopmentStorage=true", "local",
            "Storage connection string for Azurite; in Azure the identity-based `AzureWebJobsStorage__accountName` "
            "is used instead."),
    Setting("AOS_COSMOS_EMULATOR_ENDPOINT", "http://127.0.0.1:8081", "local",
            "Cosmos emulator endpoint for `azure-local` (started from node_modules when on loopback and not running)."),
    Setting("AOS_COSMOS_KEY", None, "local", "Cosmos emulator account key (default: the public emulator key)."),
    Setting("AOS_NODE_ROOT", None, "local", "Folder holding node_modules with the emulators (default: the repo)."),
    Setting("APPLICATIONINSIGHTS_CONNECTION_STRING", None, "azure",
            "Application Insights (azure-monitor-opentelemetry); carries no secret."),
    # Read by the Functions host (aos/hosting, function_app.py).
    Setting("AOS_SERVICEBUS_SUBSCRIPTION", "aos-kernel", "azure",
            "Subscription of topic aos-events the Service Bus trigger reads (binding expression "
            "%AOS_SERVICEBUS_SUBSCRIPTION%); its maxDeliveryCount bounds retries of a bad message."),
    Setting("AOS_RESTART_BUDGET", "3", "azure",
            "Automatic restarts of a failed agent (each after an exponential backoff) before it stays failed "
            "until an operator resumes it."),
    Setting("AOS_RESTART_BACKOFF_S", "60", "azure",
            "Backoff before the first automatic restart of a failed agent; doubles with each restart."),
    # Entra ID bearer tokens beside API keys (aos/kernel/entra.py).
    Setting("AOS_ENTRA_TENANT_ID", None, "azure",
            "Entra ID tenant (directory) id, a GUID, whose access tokens AOS accepts beside API keys; they act in "
            "AOS_DEFAULT_TENANT. Unset (or AOS_ENTRA_AUDIENCE unset): JWTs are refused with a 401."),
    Setting("AOS_ENTRA_AUDIENCE", None, "azure",
            "Accepted `aud` values, comma-separated: the AOS app registration's client id (v2 tokens) and/or its "
            "App ID URI such as `api://aos` (v1 tokens)."),
    Setting("AOS_ENTRA_TENANTS", "", "azure",
            "Further Entra tenants whose tokens are accepted, comma-separated `<tid>=<aos-tenant>` (may also "
            "remap AOS_ENTRA_TENANT_ID); tokens from any other Entra tenant are refused."),
)

_BY_NAME = {s.name: s for s in SETTINGS}

Backend = Literal["embedded", "memory", "azure-local", "azure"]
_BACKENDS = ("embedded", "memory", "azure-local", "azure")


#: What App Service leaves in a setting whose Key Vault reference did not resolve (missing secret, no access).
UNRESOLVED_REFERENCE = "@Microsoft.KeyVault("


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or value == "":
        return _BY_NAME[name].default
    return value


def _unresolved(env: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(s.name for s in SETTINGS if (env.get(s.name) or "").startswith(UNRESOLVED_REFERENCE))


def _number(env: Mapping[str, str], name: str, kind: type[int | float], low: float) -> int | float:
    raw = _get(env, name)
    try:
        value = kind(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise NotConfigured(f"{name}={raw!r} is not a valid {kind.__name__}", setting=name) from e
    if value < low:
        raise NotConfigured(f"{name} must be ≥ {low}, got {value}", setting=name)
    return value


_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _entra_tid(raw: str | None, name: str) -> str | None:
    if raw is None:
        return None
    tid = raw.strip().lower()
    if not _GUID.match(tid):
        raise NotConfigured(f"{name}: {raw!r} is not an Entra tenant id; use the directory's GUID (tokens carry "
                            "it in 'tid'), not a domain name", setting=name)
    return tid


def _entra_tenants(raw: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in (i.strip() for i in raw.split(",")):
        if not item:
            continue
        tid, sep, tenant = (p.strip() for p in item.partition("="))
        if not sep or not SLUG.match(tenant):
            raise NotConfigured(f"AOS_ENTRA_TENANTS entry {item!r} must look like <entra-tid>=<aos-tenant>",
                                setting="AOS_ENTRA_TENANTS")
        pairs.append((_entra_tid(tid, "AOS_ENTRA_TENANTS") or "", tenant))
    return tuple(pairs)


@dataclass(frozen=True)
class Config:
    backend: Backend = "embedded"
    data_dir: Path = Path(".aos")
    host: str = "127.0.0.1"
    port: int = 7071
    workers: int = 16
    admin_key: str | None = None
    default_tenant: str = "default"
    log_level: str = "INFO"
    scheduler_interval_s: float = 1.0
    sweep_interval_s: float = 5.0
    loop_lag_warn_ms: float = 100.0
    openai_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    openai_model: str | None = None
    python_brain_modules: tuple[str, ...] = ()
    python_brain_path: tuple[str, ...] = (".",)
    #: settings holding a Key Vault reference that did not resolve: treated as unset, named in errors
    unresolved: tuple[str, ...] = ()
    storage_account: str | None = None
    cosmos_endpoint: str | None = None
    cosmos_database: str = "aos"
    servicebus_namespace: str | None = None
    keyvault_uri: str | None = None
    task_hub: str = "aos"
    appinsights_connection_string: str | None = field(default=None, repr=False)
    servicebus_subscription: str = "aos-kernel"
    restart_budget: int = 3
    restart_backoff_s: float = 60.0
    entra_tenant_id: str | None = None
    entra_audiences: tuple[str, ...] = ()
    #: extra accepted Entra tenants as (tid, AOS tenant) pairs
    entra_tenants: tuple[tuple[str, str], ...] = ()

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read every setting; a malformed value is a `NotConfigured` error naming the setting."""
        env = os.environ if env is None else env
        unresolved = _unresolved(env)
        env = {k: v for k, v in env.items() if k not in unresolved}
        backend = _get(env, "AOS_BACKEND") or "embedded"
        if backend not in _BACKENDS:
            raise NotConfigured(
                f"AOS_BACKEND={backend!r} is not one of {', '.join(_BACKENDS)}", setting="AOS_BACKEND"
            )
        modules = tuple(m.strip() for m in (_get(env, "AOS_PYTHON_BRAIN_MODULES") or "").split(",") if m.strip())
        return cls(
            backend=backend,  # type: ignore[arg-type]
            data_dir=Path(_get(env, "AOS_DATA_DIR") or ".aos"),
            host=_get(env, "AOS_HOST") or "127.0.0.1",
            port=int(_number(env, "AOS_PORT", int, 0)),
            workers=int(_number(env, "AOS_WORKERS", int, 1)),
            admin_key=_get(env, "AOS_ADMIN_KEY"),
            default_tenant=_get(env, "AOS_DEFAULT_TENANT") or "default",
            log_level=(_get(env, "AOS_LOG_LEVEL") or "INFO").upper(),
            scheduler_interval_s=float(_number(env, "AOS_SCHEDULER_INTERVAL_S", float, 0.01)),
            sweep_interval_s=float(_number(env, "AOS_SWEEP_INTERVAL_S", float, 0.05)),
            loop_lag_warn_ms=float(_number(env, "AOS_LOOP_LAG_WARN_MS", float, 0)),
            openai_base_url=_get(env, "AOS_OPENAI_BASE_URL"),
            openai_api_key=_get(env, "AOS_OPENAI_API_KEY"),
            openai_model=_get(env, "AOS_OPENAI_MODEL"),
            python_brain_modules=modules,
            python_brain_path=tuple(d for d in (_get(env, "AOS_PYTHON_BRAIN_PATH") or "").split(os.pathsep) if d),
            unresolved=unresolved,
            storage_account=_get(env, "AzureWebJobsStorage__accountName"),
            cosmos_endpoint=_get(env, "CosmosConnection__accountEndpoint"),
            cosmos_database=_get(env, "AOS_COSMOS_DATABASE") or "aos",
            servicebus_namespace=_get(env, "ServiceBusConnection__fullyQualifiedNamespace"),
            keyvault_uri=_get(env, "AOS_KEYVAULT_URI"),
            task_hub=_get(env, "AOS_TASK_HUB") or "aos",
            appinsights_connection_string=_get(env, "APPLICATIONINSIGHTS_CONNECTION_STRING"),
            servicebus_subscription=_get(env, "AOS_SERVICEBUS_SUBSCRIPTION") or "aos-kernel",
            restart_budget=int(_number(env, "AOS_RESTART_BUDGET", int, 0)),
            restart_backoff_s=float(_number(env, "AOS_RESTART_BACKOFF_S", float, 0)),
            entra_tenant_id=_entra_tid(_get(env, "AOS_ENTRA_TENANT_ID"), "AOS_ENTRA_TENANT_ID"),
            entra_audiences=tuple(a.strip() for a in (_get(env, "AOS_ENTRA_AUDIENCE") or "").split(",")
                                  if a.strip()),
            entra_tenants=_entra_tenants(_get(env, "AOS_ENTRA_TENANTS") or ""),
        )

    def require(self, name: str) -> str:
        """The value of a setting the caller cannot do without; `NotConfigured` naming it otherwise."""
        attr = {
            "AzureWebJobsStorage__accountName": self.storage_account,
            "CosmosConnection__accountEndpoint": self.cosmos_endpoint,
            "ServiceBusConnection__fullyQualifiedNamespace": self.servicebus_namespace,
            "AOS_KEYVAULT_URI": self.keyvault_uri,
            "AOS_OPENAI_BASE_URL": self.openai_base_url,
            "AOS_OPENAI_MODEL": self.openai_model,
            "AOS_OPENAI_API_KEY": self.openai_api_key,
        }
        value = attr.get(name)
        if name in self.unresolved:
            raise NotConfigured(f"{name} holds a Key Vault reference that did not resolve: create the secret and "
                                "grant the app's identity 'Key Vault Secrets User'", setting=name)
        if not value:
            raise NotConfigured(f"{name} is not set: {_BY_NAME[name].help}", setting=name)
        return value
