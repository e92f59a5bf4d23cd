"""The README's `aos up --backend azure-local`, as written: a real process that starts Azurite and the Cosmos
emulator from node_modules, runs the sample agents on them, and takes events from the Storage Queue."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path

import pytest

from aos.adapters.azure import names
from aos.adapters.azure.credentials import StorageTarget
from aos.adapters.azure.factory.emulators import azurite_connection_string
from aos.adapters.azure.queue import open_queue_transport
from aos.model import Event

from .conftest import ROOT, free_port, start, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
NODE = ROOT / "node_modules" / ".bin"


def readme_command(port: int) -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Locally on Azure emulators", 1)[1].split("\n## ", 1)[0]
    [line] = [ln for ln in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)[0].splitlines() if ln.strip()]
    argv = line.split()
    argv[argv.index("--port") + 1] = str(port)
    return argv


@pytest.mark.skipif(not (NODE / "azurite").exists() or not (NODE / "cosmosdb-server").exists(),
                    reason="node_modules absent: `make test` runs `npm ci` first")
def test_aos_up_on_the_azure_emulators(tmp_path: Path) -> None:
    argv = readme_command(free_port())
    assert argv[:3] == ["aos", "up", "--backend"]
    server = start(tmp_path / "data", command=[str(Path(ROOT / ".venv" / "bin" / "aos")), *argv[1:]],
                   port=int(argv[argv.index("--port") + 1]))
    try:
        with server.client() as api:
            assert api.get("/api/health").json()["backend"] == "azure-local"
            ids = [a["id"] for a in api.get("/api/agents").json()["items"]]
            assert ids == ["billing-desk", "reporter", "tech-desk", "triage"]
            event = Event.model_validate({"id": f"q-{tmp_path.name[-8:]}", "source": "queue-test",
                                          "type": "ticket.created", "data": {"id": "Q-1", "category": "billing"}})

            async def send() -> None:
                target = StorageTarget(connection_string=azurite_connection_string())
                transport = await open_queue_transport(target, names.QUEUE_EVENTS)
                try:
                    await transport.send([event])
                finally:
                    await transport.close()

            asyncio.run(send())
            resolved = wait_until(
                lambda: [e for e in api.get("/api/events", params={"type": "ticket.resolved"}).json()["items"]
                         if e["event"]["data"]["ticket"] == "Q-1"], timeout=45, what="Q-1 resolved on the emulators")
            assert json.dumps(resolved[0]["event"]["data"]).count("Refund") == 1
    finally:
        assert server.stop(signal.SIGTERM) == 0, server.log.read_text()[-3000:]
