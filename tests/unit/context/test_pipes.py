"""`pipe_stdio`, the threadless stdio transport: lines in and out, bad lines skipped, stray output kept off the
wire, the SDK transport when stdin/stdout are files. (test_stdio.py drives it through a real MCP client.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp.shared.message import SessionMessage

from mcp_servers.context import pipes

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[3]
PING = '{"jsonrpc":"2.0","id":7,"method":"ping"}'
DISCOVER = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "server/discover",
        "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        },
    }
)


async def test_lines_in_and_out_bad_lines_reported_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipes, "MAX_LINE", 1000)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        async with pipes._serve(in_r, out_w) as (received, send):
            os.write(in_w, ("not json\n\n" + "x" * 5000 + "\n" + PING + "\n").encode())
            with anyio.fail_after(5):
                got = [await received.receive() for _ in range(3)]
            assert isinstance(got[0], Exception) and isinstance(got[1], ValueError)  # garbage, overlong
            assert isinstance(got[2], SessionMessage) and got[2].message.id == 7  # the blank line: skipped
            reply = types.JSONRPCResponse(jsonrpc="2.0", id=7, result={})
            await send.send(SessionMessage(reply))
            os.close(in_w)  # the end of input ends the read stream
            in_w = -1
            with anyio.fail_after(5):
                async for _ in received:
                    raise AssertionError("nothing more was sent")
        assert json.loads(os.read(out_r, 1000)) == {"jsonrpc": "2.0", "id": 7, "result": {}}
    finally:
        for fd in (in_r, in_w, out_r, out_w):
            if fd >= 0:
                os.close(fd)


def test_stray_output_goes_to_stderr_and_the_fds_come_back() -> None:
    script = (
        "import anyio, os\n"
        "from mcp_servers.context.pipes import pipe_stdio\n"
        "async def main():\n"
        "    async with pipe_stdio() as (received, send):\n"
        "        print('stray print', flush=True)\n"
        "        os.write(1, b'stray write\\n')\n"
        "        async for message in received:\n"
        "            await send.send(message)\n"
        "    print('after', flush=True)\n"
        "anyio.run(main)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=PING + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    wire, after = done.stdout.splitlines()
    assert json.loads(wire) == json.loads(PING) and after == "after"
    assert "stray print" in done.stderr and "stray write" in done.stderr


def test_files_fall_back_to_the_sdk_transport(tmp_path: Path) -> None:
    (tmp_path / "in").write_text(DISCOVER + "\n")
    with open(tmp_path / "in") as stdin, open(tmp_path / "out", "w") as stdout:
        args = ["-m", "mcp_servers.context", "--data-dir", str(tmp_path), "--agent", "agent-a"]
        subprocess.run([sys.executable, *args], stdin=stdin, stdout=stdout, cwd=ROOT, timeout=60, check=True)
    reply = json.loads((tmp_path / "out").read_text())
    assert reply["id"] == 1 and "tools" in reply["result"]["capabilities"]
