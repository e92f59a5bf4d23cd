"""What every ContextStore adapter shares: validation, payload offload to the BlobStore, archives, cursors.

Kept apart from the adapters so the SQLite, in-memory (and later Cosmos) stores enforce the same rules and
write the same blob layout: ``context/{tenant}/{agent}/payloads/{sha256}`` for large payloads and
``context/{tenant}/{agent}/archives/{first:012d}-{last:012d}.json`` for compaction archives.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import json
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aos.errors import PayloadTooLarge, ValidationFailed
from aos.ports import CONTEXT_INLINE_LIMIT, BlobStore, ContextStore, JournalEntry, NewEntry

LABEL = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
KIND = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")
BLOCK_KINDS = ("text", "json")
MAX_ENTRY_BYTES = ContextStore.MAX_ENTRY_BYTES
_WORD = re.compile(r"\w+", re.UNICODE)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_etag() -> str:
    return uuid.uuid4().hex


def check_label(label: str) -> str:
    if not isinstance(label, str) or not LABEL.match(label):
        raise ValidationFailed(
            f"block label {label!r} is invalid: 1-64 chars of a-z, 0-9, '_', '.', '-', starting with a letter"
        )
    return label


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not KIND.match(kind):
        raise ValidationFailed(
            f"entry kind {kind!r} is invalid: 1-32 chars of a-z, 0-9, '_', '.', '-', starting with a letter"
        )
    return kind


def encode_block_value(value: Any, kind: str) -> str:
    """The stored text of a block value: the text itself, or compact JSON."""
    if kind not in BLOCK_KINDS:
        raise ValidationFailed(f"block kind {kind!r} is invalid: use 'text' or 'json'")
    if kind == "text":
        if not isinstance(value, str):
            raise ValidationFailed(
                "a text block's value must be a string; use kind='json' for structured values"
            )
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValidationFailed(f"block value is not JSON-serializable: {e}") from e


def decode_block_value(stored: str, kind: str) -> Any:
    return stored if kind == "text" else json.loads(stored)


def check_limit(size: int, limit: int, label: str) -> None:
    if not 1 <= limit <= ContextStore.MAX_BLOCK_LIMIT:
        raise ValidationFailed(
            f"block limit {limit} is out of range: 1..{ContextStore.MAX_BLOCK_LIMIT} bytes"
        )
    if size > limit:
        raise PayloadTooLarge(
            f"block '{label}' value is {size} bytes, over its limit of {limit}: shorten it or raise the limit",
            label=label,
        )


def encode_data(data: Any) -> str | None:
    if data is None:
        return None
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValidationFailed(f"entry data is not JSON-serializable: {e}") from e


def folded_entry(entry_id: str, seq: int, ts: datetime, kind: str) -> JournalEntry:
    """What `append` returns for an id that compaction folded into an archive (see `ContextStore.append`): the
    entry as its stub remembers it, without text, its data saying it was folded. Every adapter returns this."""
    return JournalEntry(entry_id, seq, ts, kind, "", {"folded": True}, 0)


def entry_size(text: str, data_json: str | None) -> int:
    return len(text.encode()) + (len(data_json.encode()) if data_json else 0)


def check_entry(entry: NewEntry) -> tuple[str, str | None, int]:
    """Validate a new entry; return (kind, data as JSON, size in bytes)."""
    check_kind(entry.kind)
    if not isinstance(entry.text, str):
        raise ValidationFailed("entry text must be a string")
    if entry.id is not None and (not isinstance(entry.id, str) or not 1 <= len(entry.id) <= 200):
        raise ValidationFailed("entry id must be a string of 1-200 chars")
    data_json = encode_data(entry.data)
    size = entry_size(entry.text, data_json)
    if size > MAX_ENTRY_BYTES:
        raise PayloadTooLarge(
            f"journal entry is {size} bytes, over the {MAX_ENTRY_BYTES}-byte limit: split it"
        )
    if not entry.text and entry.data is None:
        raise ValidationFailed("a journal entry needs text or data")
    return entry.kind, data_json, size


def payload_prefix(key: str) -> str:
    return f"context/{key}/payloads/"


def archive_prefix(key: str) -> str:
    return f"context/{key}/archives/"


def archive_name(key: str, first_seq: int, last_seq: int) -> str:
    return f"{archive_prefix(key)}{first_seq:012d}-{last_seq:012d}.json"


async def offload_entry(blobs: BlobStore, key: str, text: str, data_json: str | None, size: int) -> str | None:
    """`offload` for a journal entry of `size` bytes (text + data JSON). Its payload document is only built when
    it could be over the inline limit: even with every byte escaped (at most 6 bytes each, `\\u001f`), an entry
    under a sixth of the limit cannot be, and steps journal one entry each."""
    if size * 6 + 64 <= CONTEXT_INLINE_LIMIT:
        return None
    return await offload(blobs, key, Payload(text, data_json).dumps())


async def offload(blobs: BlobStore, key: str, payload: str) -> str | None:
    """Store `payload` in the BlobStore when it is over the inline limit; return the blob name (else None)."""
    raw = payload.encode()
    if len(raw) <= CONTEXT_INLINE_LIMIT:
        return None
    name = payload_prefix(key) + hashlib.sha256(raw).hexdigest()
    await blobs.put(name, raw, "application/json")
    return name


@dataclass(frozen=True)
class Payload:
    """An entry's text and data as one JSON document, the form stored in a blob when it is large."""

    text: str
    data_json: str | None

    def dumps(self) -> str:
        return json.dumps({"text": self.text, "data": self.data_json}, ensure_ascii=False)

    @staticmethod
    def loads(raw: bytes) -> Payload:
        doc = json.loads(raw)
        return Payload(doc["text"], doc["data"])


def index_text(text: str, data_json: str | None) -> str:
    """What search indexes for an entry or block: its text and JSON data, capped at the inline limit."""
    body = text if data_json is None else f"{text}\n{data_json}"
    return body[:CONTEXT_INLINE_LIMIT]


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


#: Words of a query beyond this many are ignored (each word costs one bounded lookup).
MAX_SEARCH_WORDS = 16


def search_terms(query: str) -> list[str]:
    """The distinct lowercase words of a query, in query order, at most `MAX_SEARCH_WORDS`."""
    return list(dict.fromkeys(words(query)))[:MAX_SEARCH_WORDS]


@dataclass(frozen=True)
class Matches:
    """What an adapter found in one source ("block" or "journal") for a search, within the bounds of the
    `ContextStore.search` contract. Refs are ints, larger = newer (an entry's position, a block's creation).

    `each[word]`: the newest `SEARCH_WINDOW` refs containing the word (its *window*), newest first. `every`:
    the newest `SEARCH_WINDOW` refs containing every word, found anywhere in the source. `total`: how many
    entries (or blocks) the source holds. `df[word]`: how many contain the word: `len(each[word])` when the
    window is not full, else an estimate (`estimate_df`)."""

    source: str
    total: int
    each: dict[str, list[int]]
    every: list[int]
    df: dict[str, float]


def needs_every(each: dict[str, list[int]], window: int) -> bool:
    """Whether a search looks for the refs with every word beyond the words' windows: when one of the words
    has fewer than `window` matches (the lookup then costs at most that word's matches). With every word that
    common, the refs in all the windows are the ones counted as having every word."""
    return len(each) > 1 and all(each.values()) and min(len(refs) for refs in each.values()) < window


def block_matches(blocks: Sequence[tuple[str, str]], terms: list[str], window: int) -> Matches:
    """Matches among an agent's blocks, every one read (an agent has few): `blocks` are (label, indexed body)
    in the order they were made, and a block's ref is its place in that order."""
    held = [set(words(f"{label} {body}")) for label, body in blocks]

    def newest(wanted: list[str]) -> list[int]:
        refs = (i for i in range(len(blocks) - 1, -1, -1) if all(t in held[i] for t in wanted))
        return list(itertools.islice(refs, window))

    each = {t: newest([t]) for t in terms}
    every = newest(terms) if needs_every(each, window) else []
    df = {t: float(len(r) if len(r) < window else len(blocks)) for t, r in each.items()}
    return Matches("block", len(blocks), each, every, df)


def estimate_df(window: int, total: int, span: int) -> float:
    """A word whose window is full: `window` matches among the newest `span` entries, so about
    window * total / span in all, and never fewer than `window` nor more than `total`."""
    return min(max(window * total / max(span, 1), window), max(total, window))


def rank(terms: list[str], found: Sequence[Matches], limit: int) -> list[tuple[str, int, float]]:
    """The best `limit` (source, ref, score), best first: the ranking every adapter shares.

    A word weighs ln(1 + N/df) (N: entries and blocks; df: how many contain it): rarer words weigh more. A hit
    with every word scores the sum of all the weights; any other hit, the weights of the words in whose
    window it is. So hits with every word come first. Ties: blocks first, then the newest."""
    n = max(sum(m.total for m in found), 1)
    weights = [(t, math.log(1 + n / max(sum(m.df.get(t, 0.0) for m in found), 1.0))) for t in terms]
    full = 0.0
    for _, w in weights:
        full += w
    scores: dict[tuple[str, int], float] = {}
    for m in found:
        for t, w in weights:  # the same order for every hit: equal word sets, equal scores
            for ref in m.each.get(t, ()):
                hit = (m.source, ref)
                scores[hit] = scores.get(hit, 0.0) + w
        for ref in m.every:
            scores[(m.source, ref)] = full
    best = heapq.nsmallest(limit, scores.items(), key=lambda kv: (-kv[1], kv[0][0] != "block", -kv[0][1]))
    return [(source, ref, score) for (source, ref), score in best]


def snippet(text: str, terms: list[str], width: int = 160) -> str:
    lower = text.lower()
    at = min((i for i in (lower.find(t) for t in terms) if i >= 0), default=0)
    start = max(0, at - width // 4)
    piece = text[start : start + width].replace("\n", " ")
    return ("…" if start else "") + piece + ("…" if start + width < len(text) else "")


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, num = raw.partition(":")
        if tag != "seq":
            raise ValueError(tag)
        return int(num)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValidationFailed(
            f"cursor {cursor!r} is not one this journal issued; start without a cursor"
        ) from e


def archive_bytes(entries: list[JournalEntry]) -> bytes:
    doc = {
        "format": "aos.context.archive/1",
        "entries": [
            {"id": e.id, "seq": e.seq, "ts": e.ts.isoformat(), "kind": e.kind, "text": e.text, "data": e.data}
            for e in entries
        ],
    }
    return json.dumps(doc, ensure_ascii=False).encode()


def archive_entries(raw: bytes) -> list[JournalEntry]:
    doc = json.loads(raw)
    out = []
    for e in doc["entries"]:
        data_json = encode_data(e["data"])
        size = entry_size(e["text"], data_json)
        out.append(
            JournalEntry(
                e["id"], e["seq"], datetime.fromisoformat(e["ts"]), e["kind"], e["text"], e["data"], size
            )
        )
    return out


def summary_id(first_seq: int, last_seq: int) -> str:
    return f"summary-{first_seq}-{last_seq}"
