"""Assembles one running AOS from configuration: stores → kernel → host, plus keys and contexts.

Hosts (`aos up`, tests, benchmarks) use `System.open(config)` as an async context manager. The backend is
chosen here and only here, so the kernel never imports an adapter.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from aos.brains import Brains
from aos.config import Config
from aos.errors import NotConfigured
from aos.kernel import Kernel, KernelOptions, KeyService
from aos.kernel.context import ContextProvider
from aos.kernel.entra import EntraSettings, EntraVerifier
from aos.ports import Stores
from aos.runtime.host import EmbeddedRuntime, ReadyQueue
from aos.secrets import EnvSecretResolver, SecretResolver

log = logging.getLogger("aos.system")


async def open_stores(config: Config) -> Stores:
    from aos.adapters import embedded

    if config.backend == "memory":
        return embedded.open_memory()
    if config.backend == "embedded":
        return await embedded.open_sqlite(config.data_dir)
    if config.backend in ("azure-local", "azure"):
        from aos.adapters.azure.factory import open_azure  # lazy: embedded runs never load the Azure SDKs

        return await open_azure(config, emulator=config.backend == "azure-local")
    raise NotConfigured(f"AOS_BACKEND={config.backend} is not a backend", setting="AOS_BACKEND")


async def start_ingress(config: Config, kernel: Kernel, stack: AsyncExitStack) -> Any:
    """Azure backends, embedded host: poll the events transport (`aos-events`) into `kernel.publish`."""
    if config.backend not in ("azure-local", "azure"):
        return None
    from aos.adapters.azure.factory import open_ingress
    from aos.runtime.ingress import IngressPoller

    transport = await open_ingress(config, emulator=config.backend == "azure-local")
    stack.push_async_callback(transport.close)
    poller = IngressPoller(kernel, transport, config.default_tenant)
    await poller.start()
    stack.push_async_callback(poller.shutdown)
    return poller


async def secret_resolver(config: Config, stack: AsyncExitStack) -> SecretResolver:
    """Where `@keyvault:NAME` references in agent specs resolve: Key Vault (as the app's identity) whenever
    AOS_KEYVAULT_URI is set, whatever the backend; otherwise the environment (`AOS_SECRET_<NAME>`), so the same
    spec runs embedded with no vault. See `aos.secrets`."""
    if not config.keyvault_uri:
        return EnvSecretResolver()
    from aos.adapters.azure.credentials import default_credential
    from aos.adapters.azure.keyvault import open_keyvault

    credential = default_credential()
    stack.push_async_callback(credential.close)
    resolver = open_keyvault(config.keyvault_uri, credential=credential)
    stack.push_async_callback(resolver.close)
    return resolver


def context_provider(stores: Stores) -> ContextProvider | None:
    """The ContextMCPServer provider over the backend's ContextStore, or None if the backend has none."""
    if stores.context is None:
        return None
    from mcp_servers.context import ContextMCPProvider

    return ContextMCPProvider(stores.context, stores.blobs)


def entra_verifier(config: Config) -> EntraVerifier | None:
    """The Entra ID token verifier, or None (JWTs refused) unless both tenant id and audience are set.

    The configured tenant's tokens act in AOS_DEFAULT_TENANT unless AOS_ENTRA_TENANTS maps it elsewhere."""
    if not (config.entra_tenant_id and config.entra_audiences):
        return None
    tenants = {config.entra_tenant_id: config.default_tenant, **dict(config.entra_tenants)}
    return EntraVerifier(EntraSettings(config.entra_tenant_id, config.entra_audiences, tenants))


@dataclass
class System:
    config: Config
    stores: Stores
    kernel: Kernel
    keys: KeyService
    runtime: EmbeddedRuntime
    brains: Brains
    generated_admin_key: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, config: Config, *, brains: Brains | None = None, run: bool = True,
             options: KernelOptions | None = None) -> _SystemContext:
        return _SystemContext(config, brains, run, options)


class _SystemContext:
    def __init__(self, config: Config, brains: Brains | None, run: bool, options: KernelOptions | None) -> None:
        self._args = (config, brains, run, options)
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> System:
        config, brains, run, options = self._args
        ingress = None
        try:
            stores = await open_stores(config)
            self._stack.push_async_callback(stores.close)
            if brains is None:
                brains = Brains(config, secrets=await secret_resolver(config, self._stack))
            self._stack.push_async_callback(brains.aclose)
            queue = ReadyQueue()
            if options is None:  # the embedded host is the registry's only writer: cache records and routes
                options = KernelOptions(record_cache_size=50_000) if run else KernelOptions(route_cache_size=0)
            kernel = Kernel(stores, brains, context=context_provider(stores), notifier=queue, options=options)
            keys = KeyService(stores.keys, stores.clock, entra=entra_verifier(config))
            generated = await keys.ensure_bootstrap(config.default_tenant, config.admin_key)
            runtime = EmbeddedRuntime(
                kernel, queue, workers=config.workers,
                scheduler_interval_s=config.scheduler_interval_s, sweep_interval_s=config.sweep_interval_s,
                lag_threshold_s=config.loop_lag_warn_ms / 1000,
            )
            self._stack.push_async_callback(runtime.shutdown)  # also stops its lag watch, started or not
            if run:
                await runtime.start()
                ingress = await start_ingress(config, kernel, self._stack)
        except BaseException:
            await self._stack.aclose()
            raise
        system = System(config, stores, kernel, keys, runtime, brains, generated)
        if ingress is not None:
            system.extras["ingress"] = ingress
        return system

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
