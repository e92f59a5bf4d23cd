"""Cold start of the function app: how long the worker takes to import `function_app` and index it.

Each measurement is a fresh interpreter (`python -c ...`) timing, inside the process, the import plus
`app.get_functions()` (what the worker does at start-up). Printed beside the same for a bare `DFApp()`,
median of N runs each, interleaved so machine noise hits both alike, then the top offenders of
`python -X importtime -c "import function_app"` (cumulative; indentation is nesting depth).
The third line shows what the first invocation adds by importing FastAPI, the kernel and the adapters.

    python bench/coldstart.py [--runs 9] [--top 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMED = """
import time
t = time.perf_counter()
{body}
print(time.perf_counter() - t)
"""
CASES = {
    "bare DFApp()": "import azure.durable_functions as df\napp = df.DFApp()\napp.get_functions()",
    "function_app": "import function_app\nfunction_app.app.get_functions()",
    # what the first invocation adds (not part of start-up; shown so the lazy imports are not hidden)
    "+ first call": "import function_app\nfunction_app.app.get_functions()\n"
                    "import aos.hosting.handlers, aos.api, aos.adapters.embedded, mcp_servers.context",
}


def once(body: str) -> float:
    out = subprocess.run([sys.executable, "-c", TIMED.format(body=body)], cwd=ROOT, check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "0"})
    return float(out.stdout.strip().splitlines()[-1])


def importtime(top: int) -> list[tuple[int, str]]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import function_app"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stderr
    rows: list[tuple[int, str]] = []
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        if name.strip() not in ("function_app", "site", "encodings"):
            rows.append((int(cumulative.strip()), name.rstrip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    for body in CASES.values():
        once(body)  # warm the bytecode cache and the OS file cache
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, body in CASES.items():
            times[name].append(once(body))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name:>14}: median {median * 1000:7.1f} ms over {args.runs} runs "
              f"(min {min(times[name]) * 1000:.1f}, max {max(times[name]) * 1000:.1f})")
    ratio = medians["function_app"] / medians["bare DFApp()"]
    print(f"{'ratio':>14}: {ratio:.2f}x the bare DFApp import (target ≤ 2.5x)")
    print("\ntop imports of function_app (cumulative ms):")
    for micros, name in importtime(args.top):
        print(f"  {micros / 1000:8.1f} {name}")


if __name__ == "__main__":
    main()
