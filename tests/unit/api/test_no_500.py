"""Bad input never gives a 500: every route of the OpenAPI document, fed junk, answers a 4xx problem; on the
memory store and on the embedded SQLite one (where an integer past 64 bits once reached SQLite: a 500)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import agent_body

pytestmark = pytest.mark.anyio

JUNK_BODIES: list[bytes] = [
    b"", b"null", b"[]", b"{}", b"42", b'"text"', b"{bad json", b"\xff\xfe\x00", b"[" * 5000 + b"]" * 5000,
    b'{"id": 1e999}', b'{"id": "\\ud800"}', b'{"type": {"nested": []}, "source": []}',
    b'[{"type": "x", "source": "s"}, 7]', b'{"role": "agent", "agent_id": "Not A Slug"}',
    b'{"id": "' + b"a" * 10_000 + b'"}', b'{"brain": {"kind": "scripted", "settings": {"rules": "nope"}}}',
]
JUNK_SEGMENTS = ["..", "%00", "a" * 300, "UPPER", "-x-", "x" * 2, "%F0%9F%92%A9"]
JUNK_QUERIES = [{"limit": "-1"}, {"limit": "abc"}, {"cursor": "!!!"}, {"cursor": "e30="}, {"before": "0"},
                {"state": "x"}, {"label": "=v"}, {"purge": "maybe"}, {"type": "x" * 1000},
                {"before": str(2**63)}, {"version": str(2**64)}, {"if_version": "9" * 40}, {"limit": str(2**63)}]


async def test_every_route_answers_junk_with_a_4xx_problem(api: httpx.AsyncClient) -> None:
    await _feed_junk_everywhere(api)


async def test_every_route_answers_junk_with_a_4xx_problem_on_sqlite(embedded_api: httpx.AsyncClient) -> None:
    await _feed_junk_everywhere(embedded_api)


async def _feed_junk_everywhere(api: httpx.AsyncClient) -> None:
    await api.post("/api/agents", json=agent_body())
    paths = (await api.get("/api/openapi.json")).json()["paths"]
    seen = 0
    for template, methods in paths.items():
        for method in methods:
            for segment in ["triage", *JUNK_SEGMENTS]:
                path = template.replace("{agent_id}", segment).replace("{key_id}", segment)
                for query in JUNK_QUERIES:
                    r = await api.request(method.upper(), path, params=query)
                    assert r.status_code < 500, (method, path, query, r.text)
                if method in ("post", "put", "patch"):
                    for body in JUNK_BODIES:
                        r = await api.request(method.upper(), path, content=body,
                                              headers={"content-type": "application/json"})
                        assert r.status_code < 500, (method, path, body[:60], r.text)
                        if r.status_code >= 400:
                            assert r.headers["content-type"] == "application/problem+json", (path, r.text)
                        seen += 1
    assert seen > 100
    # and nothing junk got registered
    assert [a["id"] for a in (await api.get("/api/agents")).json()["items"]] == ["triage"]
