"""The README, run as written: `make run`, then the five-minute tour's commands against that server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, Server, start, wait_until

pytestmark = pytest.mark.e2e

SKIP = re.compile(r"^(source \.venv/bin/activate|export AOS_URL=|export AOS_API_KEY=)")


def section_blocks(heading: str) -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert blocks, f"README section '{heading}' lost its command blocks"
    return ["\n".join(line for line in b.splitlines() if not SKIP.match(line)) for b in blocks]


def run_block(block: str, cwd: Path, server: Server) -> str:
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + block], cwd=cwd, env=server.env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"README block failed:\n{block}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done.stdout


def test_make_run_boots_with_the_samples_and_stops_cleanly(tmp_path: Path) -> None:
    server = start(tmp_path / "data", command=["make", "--no-print-directory", "run"])
    try:
        with server.client() as api:
            ids = [a["id"] for a in api.get("/api/agents").json()["items"]]
            assert ids == ["billing-desk", "reporter", "tech-desk", "triage"]
            # once listening, the host watches its event loop's lag (from then on: booting is not reported)
            wait_until(lambda: api.get("/api/health").json()["runtime"]["loop_lag"]["watching"],
                       what="the lag watch")
    finally:
        assert server.stop() in (0, 2, -15)  # make itself may die of the SIGTERM its process group got
    banner = server.log.read_text()
    assert "AOS is up at" in banner and "/api/docs" in banner


def test_the_readme_tour_runs_as_written(server: Server, tmp_path: Path) -> None:
    blocks = section_blocks("Five-minute tour")
    assert len(blocks) >= 3
    for block in blocks:
        run_block(block, tmp_path, server)

    with server.client() as api:
        def resolved() -> bool:
            log = api.get("/api/events", params={"type": "ticket.resolved"}).json()["items"]
            return len(log) >= 3

        wait_until(resolved, what="three tickets resolved")
        state = api.get("/api/agents/triage/state").json()["state"]
        assert state["routed"] >= 3 and state["resolved"] >= 3
        assert api.get("/api/agents/echo").status_code == 404  # the tour purged it


@pytest.mark.skipif(not (ROOT / "node_modules" / ".bin" / "mcp-inspector").exists(),
                    reason="node_modules absent: `make test` runs `npm ci` first")
def test_the_readme_context_commands_run_as_written(server: Server) -> None:
    joined = "".join(run_block(block, ROOT, server) for block in section_blocks("Each agent's context"))
    assert '"block_read"' in joined and '"entries"' in joined


def test_cron_wakes_a_sleeping_agent(server: Server) -> None:
    spec = {"id": "ticker", "schedule": ["* * * * * */1"],  # croniter's 6th field: seconds
            "brain": {"kind": "scripted", "settings": {"rules": [
                {"match": {"type": "aos.timer"}, "then": [{"emit": {"type": "tick", "data": "{{ event.data }}"}}]}]}}}
    with server.client() as api:
        assert api.post("/api/agents", json=spec).status_code == 201
        ticks = wait_until(lambda: len(api.get("/api/events", params={"type": "tick"}).json()["items"]) >= 2,
                           what="two cron wakes")
        assert ticks
        scheduled = [e["event"]["data"]["scheduled_for"]
                     for e in api.get("/api/events", params={"type": "tick"}).json()["items"]]
        assert len(set(scheduled)) == len(scheduled), "a wake was delivered twice"


def test_cli_reports_api_errors_clearly(server: Server, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: Not A Slug\nbrain: {kind: scripted}\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")  # was a UnicodeDecodeError traceback
    cases = [
        (["aos", "agents", "register", str(binary)], "cannot read"),
        (["aos", "policies", "put", "p1", str(binary)], "cannot read"),
        (["aos", "policies", "simulate", "p1", str(tmp_path / "missing.yaml")], "cannot read"),
        (["aos", "agents", "show", "ghost"], "404 Not found: agent 'ghost' does not exist"),
        (["aos", "agents", "register", str(bad)], "422 Invalid input"),
        (["aos", "agents", "resume", "triage"], "409 Invalid lifecycle transition"),
        (["aos", "send", "x.y", "--data", "{oops"], "--data is not valid JSON"),
        (["aos", "agents", "ls", "--key", "wrong"], "401 Unauthorized: unknown API key"),
    ]
    for argv, message in cases:
        done = subprocess.run(argv, env=server.env(), capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode != 0, argv
        assert message in " ".join(done.stderr.split()), (argv, done.stderr)


def test_a_taken_port_is_a_clear_error_not_a_banner(server: Server, tmp_path: Path) -> None:
    env = {**server.env(), "AOS_ADMIN_KEY": "another-admin-key-0123456789", "AOS_DATA_DIR": str(tmp_path / "d2")}
    done = subprocess.run(["aos", "up", "--port", str(server.port)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert f"could not listen on 127.0.0.1:{server.port}" in done.stdout and "AOS is up" not in done.stdout


def test_the_readme_python_brain_commands_run_as_written(server: Server) -> None:
    """`aos up` (run in the repository, as `make run` does) imports the example's module from the directory it
    runs in; the README's tickets escalate the customer, and its state and context say so."""
    register, look, block = section_blocks("Write a brain in Python")
    run_block(register, ROOT, server)
    with server.client() as api:
        wait_until(lambda: api.get("/api/events", params={"type": "customer.escalated"}).json()["items"],
                   what="customer.escalated")
    shown = run_block(look, ROOT, server)
    assert "customer.escalated" in shown and "escalated acme: 3 tickets open" in shown
    assert '"escalated":["acme"]' in shown.replace(" ", "")
    if (ROOT / "node_modules" / ".bin" / "mcp-inspector").exists():  # `make test` runs `npm ci` first
        watch = run_block(block, ROOT, server)
        assert all(t in watch for t in ("T-31", "T-32", "T-33")), watch
