"""A real `aos up` killed with SIGKILL under load: after a restart every accepted ticket is handled exactly once."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from .conftest import start, wait_until

pytestmark = pytest.mark.e2e
TICKETS = 300


def test_sigkill_under_load_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start(data)
    batch = [{"specversion": "1.0", "id": f"t-{i}", "type": "ticket.created", "source": "load",
              "data": {"id": f"T-{i}", "category": "billing" if i % 2 else "technical"}} for i in range(TICKETS)]
    with server.client() as api:
        for chunk in range(0, TICKETS, 100):
            r = api.post("/api/events", json=batch[chunk:chunk + 100])
            assert r.status_code == 202, r.text
        in_flight = len(api.get("/api/events", params={"type": "ticket.resolved", "limit": 500}).json()["items"])
    server.stop(signal.SIGKILL)  # mid-flight: steps claimed, decided, half-applied
    assert in_flight < TICKETS, "the load finished before the kill: the test proves nothing; raise TICKETS"

    restarted = start(data, port=server.port)
    try:
        with restarted.client() as api:
            def resolved() -> list[dict]:  # type: ignore[type-arg]
                items: list[dict] = []  # type: ignore[type-arg]
                before = None
                while True:
                    params = {"type": "ticket.resolved", "limit": 500, **({"before": before} if before else {})}
                    page = api.get("/api/events", params=params).json()
                    items += page["items"]
                    before = page["next_before"]
                    if not before:
                        return items

            done = wait_until(lambda: (r := resolved()) and len(r) >= TICKETS and r, timeout=60,
                              what=f"{TICKETS} tickets resolved after the restart")
            counts = Counter(e["event"]["data"]["ticket"] for e in done)
            assert len(counts) == TICKETS and set(counts.values()) == {1}, "a ticket was lost or resolved twice"
            state = api.get("/api/agents/triage/state").json()["state"]
            assert state["routed"] == TICKETS and state["resolved"] == TICKETS
    finally:
        restarted.stop()
