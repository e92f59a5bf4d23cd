"""`python -m mcp_servers.context --data-dir DIR --tenant T --agent A`: one agent's context over stdio."""

from __future__ import annotations

import argparse
import asyncio

from mcp_servers.context.compaction import Budget
from mcp_servers.context.stdio import serve_stdio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mcp_servers.context", description=__doc__)
    parser.add_argument("--data-dir", default=".aos", help="embedded data directory (holds aos.db)")
    parser.add_argument("--tenant", default="default")
    parser.add_argument("--agent", required=True, help="agent id")
    parser.add_argument("--noop-tool", action="store_true", help="add a no-op tool (benchmarks)")
    parser.add_argument(
        "--max-entries", type=int, default=Budget.max_entries, help="compaction budget: live entries"
    )
    parser.add_argument(
        "--max-bytes", type=int, default=Budget.max_bytes, help="compaction budget: live entry bytes"
    )
    args = parser.parse_args(argv)
    budget = Budget(max_entries=args.max_entries, max_bytes=args.max_bytes)
    asyncio.run(serve_stdio(args.data_dir, args.tenant, args.agent, budget=budget, noop_tool=args.noop_tool))


if __name__ == "__main__":
    main()
