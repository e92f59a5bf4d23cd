"""Request-scoped helpers: who is calling, and the running system."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from aos.errors import IdempotencyMismatch, ValidationFailed
from aos.kernel import Caller
from aos.ports import IdempotentResponse
from aos.runtime import System

#: The largest sequence number or version a query may name: storage keeps them as signed 64-bit integers
#: (SQLite INTEGER, Cosmos numbers), so a larger one could only fail there, as a 500 instead of a 422.
MAX_POSITION = 2**63 - 1


def system(request: Request) -> System:
    return request.app.state.system  # type: ignore[no-any-return]


async def caller(request: Request) -> Caller:
    """Authenticate the bearer key; the tenant of the call comes from it, never from the body."""
    found: Caller = await system(request).keys.authenticate(request.headers.get("authorization"))
    return found


@asynccontextmanager
async def _one_at_a_time(request: Request, name: tuple[str, str]) -> AsyncIterator[None]:
    """Requests of one Idempotency-Key run one after the other in this process (the app keeps who is in
    flight). Why: concurrent duplicates each did the work, and all but the first answered its conflict
    ("agent already exists") instead of the first one's answer."""
    state = request.app.state
    inflight: dict[tuple[str, str], asyncio.Event] | None = getattr(state, "idempotency_in_flight", None)
    if inflight is None:
        inflight = state.idempotency_in_flight = {}
    while (busy := inflight.get(name)) is not None:
        await busy.wait()
    done = inflight[name] = asyncio.Event()
    try:
        yield
    finally:
        del inflight[name]
        done.set()


async def idempotent(
    request: Request, who: Caller, scope: str, compute: Callable[[], Awaitable[tuple[int, Any]]]
) -> JSONResponse:
    """Answer a retried request (same `Idempotency-Key`) with the stored first answer.

    Only successful answers are stored; the same key with a different request is a 409. A crash between
    doing the work and storing the answer makes the retry see the work's own conflict (e.g. 409 exists).
    Keys are scoped to the caller's credential: the same Idempotency-Key from another key (another agent's
    message, say) is a different request, neither answered with nor suppressed by the first caller's result.
    Within one process, a request whose key is in flight waits for the first and is answered with its result
    (a client retrying on a timeout while the first still runs); across instances, the retry sees the work's
    own conflict, as after a crash."""
    key = request.headers.get("idempotency-key")
    if key is None:
        status, body = await compute()
        return JSONResponse(body, status_code=status)
    if not 1 <= len(key) <= 255:
        raise ValidationFailed("Idempotency-Key must be 1-255 characters")
    raw = await request.body()
    digest = hashlib.sha256(request.method.encode() + request.url.path.encode() + raw).hexdigest()
    store = system(request).stores.idempotency
    full_scope = f"{who.tenant}:{who.key_id}:{scope}"  # per credential: another caller's key is not a retry
    async with _one_at_a_time(request, (full_scope, key)):
        stored = await store.get(full_scope, key)
        if stored is None:
            status, body = await compute()
            stored = await store.put(full_scope, key,
                                     IdempotentResponse(digest, status, json.loads(json.dumps(body))))
            if stored.request_hash == digest:
                return JSONResponse(stored.body, status_code=stored.status)
    if stored.request_hash != digest:
        raise IdempotencyMismatch(f"Idempotency-Key '{key}' was used for a different request")
    return JSONResponse(stored.body, status_code=stored.status, headers={"Idempotent-Replayed": "true"})
