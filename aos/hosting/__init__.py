"""The Azure Functions host of AOS: triggers and the per-agent durable orchestration, wired to the kernel.

`build_app()` returns the `DFApp` that `function_app.py` exposes. The kernel stays a shared library; this
package only turns Functions invocations into kernel calls and kernel notifications into durable-client calls.

With `AOS_BACKEND=azure` it runs on the Azure adapters (Cosmos DB, Blob, Service Bus, Key Vault); its tests
call the functions directly on the embedded store (the Functions host cannot be installed here).
"""

from aos.hosting.app import build_app

__all__ = ["build_app"]
