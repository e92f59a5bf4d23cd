"""JSON documents in Table entities: UTF-8 bytes split over binary properties `d0..dN`.

A Table string property holds at most 64 KiB and an entity at most 1 MiB, so a document is stored as binary
chunks of `CHUNK` bytes; more than `MAX_CHUNKS` chunks is `PayloadTooLarge` (the Cosmos backend holds up to
2 MiB per item; larger payloads belong in the BlobStore anyway).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

from aos.errors import PayloadTooLarge

CHUNK = 64_000
MAX_CHUNKS = 15


def pack(raw: str, what: str) -> dict[str, Any]:
    data = raw.encode()
    chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
    if len(chunks) > MAX_CHUNKS:
        raise PayloadTooLarge(f"{what} is {len(data)} bytes; the Table backend stores at most "
                              f"{CHUNK * MAX_CHUNKS} bytes per document (use the Cosmos backend)")
    packed: dict[str, Any] = {f"d{i}": c for i, c in enumerate(chunks)}
    packed["dn"] = len(chunks)
    return packed


def unpack(entity: dict[str, Any]) -> Any:
    raw = b"".join(bytes(entity[f"d{i}"]) for i in range(int(entity["dn"])))
    return json.loads(raw.decode())


def key(value: str) -> str:
    """A PartitionKey/RowKey for any string: Table keys refuse `/ \\ # ?` and control characters."""
    return quote(value, safe="")


def unkey(value: str) -> str:
    return unquote(value)
