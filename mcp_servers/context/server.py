"""`build_server`: one agent's ContextMCPServer (tools, resources, resource templates).

Resources: `context://{agent}/blocks/{label}` (a block's value) and `context://{agent}/journal` (the newest
page of the journal, as JSON). Both are listed as templates, and `resources/list` lists the agent's concrete
blocks and journal. A URI naming another agent is refused: a server serves exactly one agent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp_types import CallToolResult, InputRequiredResult
from mcp_types import Resource as MCPResource
from mcp_types import ResourceTemplate as MCPResourceTemplate
from pydantic import AnyUrl

from aos.errors import AosError, NotFound
from aos.ports import ContextStore
from mcp_servers.context import tools
from mcp_servers.context.compaction import Budget, Compactor, Summarizer
from mcp_servers.context.models import EntryOut
from mcp_servers.context.pipes import pipe_stdio

INSTRUCTIONS = (
    "This server holds one AOS agent's context. Memory blocks are labelled, size-limited values: read one to "
    "get its etag, and pass the etag back to block_write to change it (a stale etag is refused). The journal "
    "is append-only; page it with journal_page, search everything with search. Old entries are compacted into "
    "summary entries; archive_list / archive_read return what was folded."
)

_BLOCK_URI = re.compile(r"^context://([^/]+)/blocks/([^/?#]+)$")
_JOURNAL_URI = re.compile(r"^context://([^/]+)/journal$")
TEMPLATES = (
    MCPResourceTemplate(
        uri_template="context://{agent}/blocks/{label}",
        name="block",
        description="a memory block's value (text, or JSON for json blocks)",
    ),
    MCPResourceTemplate(
        uri_template="context://{agent}/journal",
        name="journal",
        description="the newest 50 journal entries, newest first, as JSON",
        mime_type="application/json",
    ),
)


class ContextServer(MCPServer):
    """An MCPServer bound to one agent; the shared tools reach the agent through `binding`."""

    def __init__(self, binding: tools.AgentBinding, *, noop_tool: bool = False) -> None:
        extra = [tools.NOOP_TOOL] if noop_tool else []
        super().__init__(
            name=f"aos-context-{binding.agent_id}",
            instructions=INSTRUCTIONS,
            version="1",
            tools=[*tools.TOOLS, *extra],
            log_level="WARNING",
        )
        self.binding = binding

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Refuse unknown arguments (the SDK would ignore them): a typo should not pass silently."""
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            unknown = sorted(set(arguments) - set(tool.parameters.get("properties", {})))
            if unknown:
                allowed = ", ".join(tool.parameters.get("properties", {})) or "none"
                raise ToolError(
                    f"Error executing tool {name}: validation: unknown argument(s) {unknown}; "
                    f"allowed: {allowed}"
                )
        return await super().call_tool(name, arguments, context)

    async def run_stdio_async(self) -> None:
        """Over stdio through `pipe_stdio` (no worker threads): the SDK's transport costs ~1 ms a call more."""
        async with pipe_stdio() as (read_stream, write_stream):
            await self._lowlevel_server.run(
                read_stream, write_stream, self._lowlevel_server.create_initialization_options()
            )

    async def list_resource_templates(self) -> list[MCPResourceTemplate]:
        return list(TEMPLATES)

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[Any, Any] | None = None
    ) -> Iterable[ReadResourceContents]:
        """Served here rather than through registered templates: building templates per server costs ms."""
        text = str(uri)
        if found := _BLOCK_URI.match(text):
            agent, label = found.group(1), unquote(found.group(2))
            return [await _read_block(self._own(agent), label)]
        if found := _JOURNAL_URI.match(text):
            return [await _read_journal(self._own(found.group(1)))]
        raise ResourceNotFoundError(f"unknown resource {text!r}: see resources/templates/list")

    def _own(self, agent: str) -> tools.AgentBinding:
        if agent != self.binding.agent_id:
            raise ResourceNotFoundError(
                f"this server serves agent '{self.binding.agent_id}' only, not '{agent}'"
            )
        return self.binding

    async def list_resources(self) -> list[MCPResource]:
        b = self.binding
        blocks = await b.store.list_blocks(b.key)
        out = [
            MCPResource(
                uri=f"context://{b.agent_id}/blocks/{x.label}",
                name=x.label,
                description=f"memory block '{x.label}' ({x.kind}, {x.size}/{x.limit} bytes)",
                mime_type="text/plain" if x.kind == "text" else "application/json",
            )
            for x in blocks
        ]
        out.append(
            MCPResource(
                uri=f"context://{b.agent_id}/journal",
                name="journal",
                description="the newest 50 journal entries",
                mime_type="application/json",
            )
        )
        return out


def build_server(
    store: ContextStore,
    tenant: str,
    agent_id: str,
    *,
    budget: Budget | None = None,
    summarizer: Summarizer | None = None,
    noop_tool: bool = False,
) -> ContextServer:
    """The ContextMCPServer of agent `agent_id` in `tenant`. Cheap (tools are shared): build one per request."""
    compactor = Compactor(store, budget or Budget(), summarizer)
    return ContextServer(tools.AgentBinding(store, tenant, agent_id, compactor), noop_tool=noop_tool)


async def _read_block(b: tools.AgentBinding, label: str) -> ReadResourceContents:
    try:
        block = await b.store.get_block(b.key, label)
    except NotFound as e:
        raise ResourceNotFoundError(e.detail) from e
    except AosError as e:
        raise ResourceError(f"{e.kind}: {e.detail}") from e
    if block.kind == "text":
        return ReadResourceContents(content=block.value, mime_type="text/plain")
    return ReadResourceContents(content=json.dumps(block.value), mime_type="application/json")


async def _read_journal(b: tools.AgentBinding) -> ReadResourceContents:
    try:
        page = await b.store.page(b.key, limit=50, newest_first=True)
    except AosError as e:
        raise ResourceError(f"{e.kind}: {e.detail}") from e
    doc: dict[str, Any] = {
        "entries": [EntryOut.of(e).model_dump(mode="json") for e in page.entries],
        "next_cursor": page.next_cursor,
    }
    return ReadResourceContents(content=json.dumps(doc), mime_type="application/json")
