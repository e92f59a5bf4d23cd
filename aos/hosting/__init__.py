"""The Azure Functions host of AOS: triggers and the per-agent durable orchestration, wired to the kernel.

`build_app()` returns the `DFApp` that `function_app.py` exposes. The kernel stays a shared library; this
package only turns Functions invocations into kernel calls and kernel notifications into durable-client calls.

Deploying for real needs the Azure storage adapters (Cosmos DB, Blob): until they exist, `AOS_BACKEND=azure`
fails at the first invocation with `NotConfigured`, and this host runs only on `embedded`/`memory` storage,
which is what its tests (and `func start` on one machine) use.
"""

from aos.hosting.app import build_app

__all__ = ["build_app"]
