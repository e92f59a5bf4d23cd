"""`python -m mcp_servers.context --data-dir DIR --tenant T --agent A`: one agent's context over stdio."""

from __future__ import annotations

import argparse
import asyncio

from mcp_servers.context.stdio import serve_stdio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mcp_servers.context", description=__doc__)
    parser.add_argument("--data-dir", default=".aos", help="embedded data directory (holds aos.db)")
    parser.add_argument("--tenant", default="default")
    parser.add_argument("--agent", required=True, help="agent id")
    parser.add_argument("--noop-tool", action="store_true", help="add a no-op tool (benchmarks)")
    args = parser.parse_args(argv)
    asyncio.run(serve_stdio(args.data_dir, args.tenant, args.agent, noop_tool=args.noop_tool))


if __name__ == "__main__":
    main()
