"""Start the local emulators (Azurite, the Cosmos DB emulator) from `node_modules`, or find them running.

`aos up --backend azure-local` and the test fixtures both come through here, so local runs and tests start the
emulators the same way. The npm packages are pinned in `package.json` (`npm ci` installs them). A process this
module starts is stopped by `Emulator.stop()` (hosts register it on their exit stack); one found already
listening is left alone.

Azurite keys and account are the documented, public development-storage values (not secrets).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aos.errors import NotConfigured

log = logging.getLogger("aos.emulators")

#: Azurite's well-known development account (https://learn.microsoft.com/azure/storage/common/storage-use-azurite).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_PORTS = (10000, 10001, 10002)  # blob, queue, table: the defaults `UseDevelopmentStorage=true` means
COSMOS_EMULATOR_PORT = 8081  # the Cosmos DB emulator's usual port
#: The key every Cosmos emulator accepts (public, documented); @vercel/cosmosdb-server accepts any key.
COSMOS_EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
START_TIMEOUT_S = 30.0


def node_bin(name: str, root: Path | None = None) -> list[str]:
    """The argv that runs the npm-installed executable `name` with node (independent of exec bits), or
    NotConfigured saying how to install it."""
    root = root or _repo_root()
    path = root / "node_modules" / ".bin" / name
    if not path.exists():
        raise NotConfigured(
            f"{name} is not installed under {root / 'node_modules'}: run `npm ci` in {root} (Node 20+)",
            setting="AOS_BACKEND",
        )
    node = shutil.which("node")
    if node is None:
        raise NotConfigured("node is not on PATH: install Node.js 20+ to run the local emulators",
                            setting="AOS_BACKEND")
    return [node, str(path.resolve())]


def _repo_root() -> Path:
    env = os.environ.get("AOS_NODE_ROOT")  # documented in aos.config.SETTINGS
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "package.json").exists():
            return parent
    return Path.cwd()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


@dataclass
class Emulator:
    """A running emulator: `process` is None when it was already running (and is not ours to stop)."""

    name: str
    ports: tuple[int, ...]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: object = field(default=None, repr=False)

    async def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), 10)
        except TimeoutError:
            proc.kill()
            await asyncio.to_thread(proc.wait)
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]


def _spawn(name: str, argv: list[str], log_path: Path) -> tuple[subprocess.Popen[bytes], Any]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "ab")  # noqa: SIM115 - closed by Emulator.stop
    try:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as e:
        out.close()
        raise NotConfigured(f"cannot start {name} ({argv[0]}): {e}; run `npm ci`", setting="AOS_BACKEND") from e
    return proc, out


async def _start(name: str, argv: list[str], ports: tuple[int, ...], log_path: Path) -> Emulator:
    proc, out = await asyncio.to_thread(_spawn, name, argv, log_path)
    emulator = Emulator(name, ports, proc, log_path, out)
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while not all(listening(p) for p in ports):
                if proc.poll() is not None:
                    raise NotConfigured(f"{name} exited with code {proc.returncode} at start; see {log_path}",
                                        setting="AOS_BACKEND")
                await asyncio.sleep(0.05)
    except TimeoutError:
        await emulator.stop()
        raise NotConfigured(f"{name} did not listen on {ports} within {START_TIMEOUT_S:.0f}s; see {log_path}",
                            setting="AOS_BACKEND") from None
    except BaseException:
        await emulator.stop()
        raise
    log.info("%s listening on 127.0.0.1:%s (log: %s)", name, ",".join(map(str, ports)), log_path)
    return emulator


async def ensure_azurite(data_dir: Path, ports: tuple[int, int, int] = AZURITE_PORTS, *,
                         in_memory: bool = False) -> Emulator:
    """Azurite on `ports` (blob, queue, table): found running, or started with its data under `data_dir`."""
    if all(listening(p) for p in ports):
        return Emulator("azurite", ports)
    blob, queue, table = ports
    argv = [*node_bin("azurite"), "--silent", "--skipApiVersionCheck", "--loose",
            "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1",
            "--queuePort", str(queue), "--tableHost", "127.0.0.1", "--tablePort", str(table)]
    argv += ["--inMemoryPersistence"] if in_memory else ["--location", str(data_dir / "azurite")]
    return await _start("azurite", argv, ports, data_dir / "azurite.log")


async def ensure_cosmos(data_dir: Path, port: int = COSMOS_EMULATOR_PORT) -> Emulator:
    """The Cosmos DB emulator (@vercel/cosmosdb-server, plain HTTP: `--no-ssl`) on `port`.

    Limitation: @vercel/cosmosdb-server keeps its data in memory, so data written on the local Cosmos emulator
    is gone when the process that started it stops (Azurite's data stays under `data_dir`)."""
    if listening(port):
        return Emulator("cosmosdb-server", (port,))
    argv = [*node_bin("cosmosdb-server"), "--no-ssl", "--host", "127.0.0.1", "--port", str(port)]
    return await _start("cosmosdb-server", argv, (port,), data_dir / "cosmosdb-server.log")


def azurite_connection_string(ports: tuple[int, int, int] = AZURITE_PORTS, host: str = "127.0.0.1") -> str:
    """The connection string for Azurite on `ports` (same as `UseDevelopmentStorage=true` on the defaults)."""
    blob, queue, table = ports
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://{host}:{blob}/{AZURITE_ACCOUNT};"
            f"QueueEndpoint=http://{host}:{queue}/{AZURITE_ACCOUNT};"
            f"TableEndpoint=http://{host}:{table}/{AZURITE_ACCOUNT};")
