"""Azure Functions entry point: `func start` / `func azure functionapp publish` index this module.

Everything is declared in `aos.hosting`; heavy imports happen on first invocation, not here. A real
Azure deployment also needs the Azure storage adapters (Cosmos DB / Blob), tracked in their own issue:
until they land, run this host with `AOS_BACKEND=embedded` (one instance) — see the README.
"""

from aos.hosting import build_app

app = build_app()
