"""A bare MCPServer with one no-op tool, served over stdio the way the SDK's docs write it (its own stdio
transport, a plain function as the tool): the Python SDK's floor, which `bench/context.py` times beside the
ContextMCPServer's no-op with the same client.

    .venv/bin/python bench/mcp_bare.py   # speaks MCP on stdin/stdout
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer(name="bare")


@server.tool()
def noop() -> str:
    """Does nothing."""
    return "ok"


if __name__ == "__main__":
    server.run("stdio")
