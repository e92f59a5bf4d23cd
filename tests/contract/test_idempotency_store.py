"""Contract of `IdempotencyStore`: absent is None, the first response stored wins."""

from __future__ import annotations

import pytest

from aos.errors import ValidationFailed
from aos.ports import IdempotentResponse, Stores

pytestmark = pytest.mark.anyio


async def test_get_is_none_until_put(stores: Stores) -> None:
    assert await stores.idempotency.get("acme:POST /api/agents", "k1") is None


async def test_first_writer_wins(stores: Stores) -> None:
    first = IdempotentResponse(request_hash="h1", status=201, body={"id": "alpha", "tags": ["a"]})
    second = IdempotentResponse(request_hash="h2", status=409, body=None)
    assert await stores.idempotency.put("scope", "k1", first) == first
    assert await stores.idempotency.put("scope", "k1", second) == first
    assert await stores.idempotency.get("scope", "k1") == first


async def test_keys_are_per_scope(stores: Stores) -> None:
    one = IdempotentResponse(request_hash="h1", status=200, body="one")
    two = IdempotentResponse(request_hash="h2", status=200, body="two")
    await stores.idempotency.put("acme", "k", one)
    await stores.idempotency.put("globex", "k", two)
    assert await stores.idempotency.get("acme", "k") == one
    assert await stores.idempotency.get("globex", "k") == two


async def test_a_body_that_cannot_be_stored_is_refused(stores: Stores) -> None:
    with pytest.raises(ValidationFailed):
        await stores.idempotency.put("s", "k", IdempotentResponse(request_hash="h", status=200, body={1j}))
    assert await stores.idempotency.get("s", "k") is None
