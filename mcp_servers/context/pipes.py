"""`pipe_stdio`: the MCP stdio transport on the event loop's own pipe transports, without threads.

Why: the SDK's `stdio_server` reads stdin and writes stdout through `anyio.wrap_file`, i.e. one worker-thread
hand-off per line read, per write and per flush: three per request. On a 2-core machine those hand-offs (GIL
and thread wake-ups, while the client process wants the same cores) cost more than everything else a no-op
call does: a bare `MCPServer` with one no-op tool measured 2.6 ms p50 per call through the SDK's transport
and 1.4 ms through this one, with the same SDK client (bench/README.md, "Context"). Here stdin and stdout are
asyncio pipe transports: a line is read, validated and handed to the server in one pass of the loop, and a
reply is one non-blocking `write`.

Like the SDK's transport, while serving it points fd 0 at /dev/null and fd 1 at stderr, so a stray `print` or a
child process cannot corrupt the wire; both are restored (and set blocking again) on exit.

Limitations: only when stdin and stdout are pipes, sockets or character devices (what asyncio's pipe
transports accept) and not on Windows; anything else (a regular file, say) falls back to the SDK's
`stdio_server`. A line that is not JSON-RPC, or longer than `MAX_LINE` bytes, reaches the server as an
exception (as with the SDK transport, which skips it) and the next line is read.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import BinaryIO, Literal

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

#: Longest JSON-RPC line read (a 1 MiB entry whose text is all escapes stays well under it).
MAX_LINE = 32 * 1024 * 1024
Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]


def _is_pipe_like(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


@asynccontextmanager
async def pipe_stdio() -> AsyncIterator[Streams]:
    """Yield (read stream, write stream) for `Server.run`, serving the process's stdin and stdout."""
    if sys.platform == "win32" or not (_is_pipe_like(0) and _is_pipe_like(1)):
        async with stdio_server() as streams:
            yield streams
        return
    wire_in, wire_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    try:
        async with _serve(wire_in, wire_out) as streams:
            yield streams
    finally:
        for wire, fd in ((wire_in, 0), (wire_out, 1)):
            with suppress(OSError):
                os.set_blocking(wire, True)
                os.dup2(wire, fd)
            os.close(wire)


def _wire(fd: int, mode: Literal["rb", "wb"]) -> BinaryIO:
    """A file object over `fd` that leaves it open when the transport closes (`pipe_stdio` restores it)."""
    return os.fdopen(fd, mode, buffering=0, closefd=False)


@asynccontextmanager
async def _serve(wire_in: int, wire_out: int) -> AsyncIterator[Streams]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    read_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), _wire(wire_in, "rb")
    )
    write_transport, write_protocol = await loop.connect_write_pipe(
        lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()),
        _wire(wire_out, "wb"),
    )
    writer = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
    to_server, from_client = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    to_client, from_server = anyio.create_memory_object_stream[SessionMessage](0)

    reading = anyio.CancelScope()

    async def read_lines() -> None:
        with reading:
            async with to_server:
                while line := await _next_line(reader, to_server):
                    try:
                        message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                    except Exception as e:  # noqa: BLE001 - the server answers it as a parse error
                        await to_server.send(e)
                        continue
                    await to_server.send(SessionMessage(message))

    async def write_lines() -> None:
        broken = False
        async with from_server:
            async for out in from_server:
                if broken:
                    continue  # keep taking replies, or the server would wait on a client that is gone
                try:
                    writer.write(
                        out.message.model_dump_json(by_alias=True, exclude_unset=True).encode() + b"\n"
                    )
                    await writer.drain()
                except OSError:
                    broken = True

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read_lines)
            tg.start_soon(write_lines)
            try:
                yield from_client, to_client
            finally:
                reading.cancel()  # the server is done (normally: stdin reached its end)
                to_client.close()  # the writer sends what is queued, then ends
                from_client.close()
    finally:
        read_transport.close()
        write_transport.close()


async def _next_line(
    reader: asyncio.StreamReader, to_server: MemoryObjectSendStream[SessionMessage | Exception]
) -> bytes:
    """The next non-blank line; b"" at the end of input. A line over `MAX_LINE` is reported and skipped."""
    while True:
        try:
            line = await reader.readline()
        except ValueError as e:  # the reader has dropped the overlong line
            await to_server.send(e)
            continue
        if not line or line.strip():
            return line
