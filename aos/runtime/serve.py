"""`aos up`: the embedded OS behind uvicorn, with graceful shutdown on SIGINT/SIGTERM.

uvicorn owns the signals: on SIGTERM it stops accepting requests and returns; then the `System` context closes,
which stops the runtime (in-flight steps finish within the grace period or are safely abandoned) and closes
the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import uvicorn
import yaml

from aos.config import Config
from aos.errors import AgentExists, AosError, NotConfigured
from aos.model import AgentSpec
from aos.runtime.host import settle_heap
from aos.runtime.system import System

log = logging.getLogger("aos.up")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support_desk"


def sample_specs(directory: Path = EXAMPLES) -> list[AgentSpec]:
    if not directory.is_dir():
        raise FileNotFoundError(f"sample agents not found at {directory} (run from a source checkout)")
    return [AgentSpec.model_validate(yaml.safe_load(p.read_text())) for p in sorted(directory.glob("*.yaml"))]


async def register_samples(sys: System, directory: Path = EXAMPLES) -> list[str]:
    """Register the sample agents in the default tenant; ones already registered are left as they are."""
    done = []
    for spec in sample_specs(directory):
        try:
            await sys.kernel.register(sys.config.default_tenant, spec)
            done.append(spec.id)
        except AgentExists:
            done.append(f"{spec.id} (already registered)")
    return done


def _banner(sys: System, samples: list[str]) -> str:
    c = sys.config
    url = f"http://{c.host}:{c.port}"
    lines = [
        f"AOS is up at {url}  (backend: {c.backend}, data: {c.data_dir.resolve() if c.backend == 'embedded' else '-'})",
        f"  health   {url}/api/health",
        f"  API docs {url}/api/docs   OpenAPI {url}/api/openapi.json",
        f"  context  {url}/mcp/agents/<agent-id>   (MCP, streamable HTTP)",
    ]
    if sys.generated_admin_key:
        lines += ["", "  Admin key (shown once; stored hashed):", f"    export AOS_API_KEY={sys.generated_admin_key}"]
    elif c.admin_key:
        lines += ["", "  Admin key: the value of AOS_ADMIN_KEY"]
    if samples:
        lines += ["", f"  sample agents: {', '.join(samples)}",
                  '  try:  aos send ticket.created --data \'{"id": "T-1", "category": "billing"}\'',
                  "        aos steps triage"]
    return "\n".join(lines)


async def _serve(config: Config, samples: bool) -> None:
    async with System.open(config) as sys:
        registered = await register_samples(sys) if samples else []
        from aos.api import create_app

        server = _Server(uvicorn.Config(
            create_app(sys), host=config.host, port=config.port, log_level=config.log_level.lower(),
            lifespan="on", access_log=False,
        ))
        announce = asyncio.create_task(_announce_when_listening(server, sys, _banner(sys, registered)))
        try:
            await server.serve()
        except SystemExit:  # uvicorn exits the process when it cannot bind; say why instead
            if server.started:
                raise
        finally:
            announce.cancel()
        if not server.started:
            raise AddressUnavailable(f"could not listen on {config.host}:{config.port} (see the error above); "
                                     "pick another --port or stop what holds it")
        log.info("shutting down: finishing in-flight steps")


class AddressUnavailable(AosError):
    status, kind, title = 503, "address-unavailable", "Cannot listen"


async def _announce_when_listening(server: uvicorn.Server, sys: System, banner: str) -> None:
    """Print where to look once the socket is bound, not before (a taken port must not print "AOS is up")."""
    while not server.started:
        await asyncio.sleep(0.02)
    settle_heap()  # booted: what exists now lives as long as the process
    sys.runtime.watch_loop()
    print(banner, flush=True)


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising SIGTERM/SIGINT once it has stopped serving.

    Why: uvicorn re-raises the captured signal when `serve()` returns, which kills the process before the
    `System` context closes, so in-flight steps would never get their grace period and the database would not
    be closed cleanly. Here the signal only stops the server; the shutdown then runs to completion and the
    process exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve_forever(env: Mapping[str, str], *, samples: bool = False) -> int:
    try:
        config = Config.load(env)
        add_brain_path(config)
    except AosError as e:
        print(f"error: {e.detail}")
        return 2
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve(config, samples))
    except AosError as e:
        print(f"error: {e.title}: {e.detail}")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def add_brain_path(config: Config) -> list[str]:
    """Put `AOS_PYTHON_BRAIN_PATH`'s directories at the end of the import path (once each), so that `python`
    brains load from them as `uvicorn` loads an app from its `--app-dir`; returns the directories added.

    Why the end: a module there never shadows the standard library or an installed package. Why a setting and
    not the current directory alone: a brain's module must also import when `aos up` restarts, from wherever
    it is started (the agents' specs name modules, not files). A directory that does not exist is an error, so
    a typo does not surface later as a brain that fails to load."""
    added: list[str] = []
    for entry in config.python_brain_path:
        path = Path(entry).expanduser().resolve()
        if not path.is_dir():
            raise NotConfigured(f"AOS_PYTHON_BRAIN_PATH: '{entry}' is not a directory", setting="AOS_PYTHON_BRAIN_PATH")
        if str(path) not in sys.path:
            sys.path.append(str(path))
            added.append(str(path))
    return added


async def serve_context_stdio(config: Config, tenant: str, agent_id: str) -> None:
    """`aos mcp context AGENT`: one agent's ContextMCPServer over stdio, on the embedded data directory.

    It opens the same SQLite file as `aos up`; SQLite serializes the two writers (with a busy wait), which is
    fine for an IDE's occasional calls. While `aos up` runs, prefer its HTTP endpoint `/mcp/agents/{id}`."""
    from aos.runtime.system import open_stores
    from mcp_servers.context import build_server

    stores = await open_stores(config)
    try:
        await stores.registry.get(tenant, agent_id)  # AgentNotFound: no context is served for a stranger
        await build_server(stores.context, tenant, agent_id).run_stdio_async()
    finally:
        await stores.close()
