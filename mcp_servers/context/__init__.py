"""ContextMCPServer: each agent's context (memory blocks, journal, archives) served over MCP."""

from mcp_servers.context.compaction import Budget, Compactor, Summarizer, extractive_summary
from mcp_servers.context.gate import WRITE_TOOLS, Gate, McpCall
from mcp_servers.context.http import Authorize, ContextHttpApp, context_http_app
from mcp_servers.context.provider import ContextMCPProvider, McpContextSession
from mcp_servers.context.server import ContextServer, build_server
from mcp_servers.context.stdio import serve_stdio

__all__ = [
    "WRITE_TOOLS",
    "Authorize",
    "Budget",
    "Compactor",
    "ContextHttpApp",
    "ContextMCPProvider",
    "ContextServer",
    "Gate",
    "McpCall",
    "McpContextSession",
    "Summarizer",
    "build_server",
    "context_http_app",
    "extractive_summary",
    "serve_stdio",
]
