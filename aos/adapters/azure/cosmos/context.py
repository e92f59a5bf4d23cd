"""`ContextStore` on Cosmos DB (container `context`, partition = agent key) plus a `BlobStore` for large payloads
and archives (the same blob layout as the embedded stores: `aos.adapters.embedded.context_common`).

Items of one agent (all in its partition, so every read is a single-partition query or a point read):
- block `b-{label}`: value (or a blob name when over 64 KiB), size, limit, version, our own `etag` (a fresh
  uuid per write: never reused, unlike a version number). Writes are conditioned on the item's Cosmos `_etag`,
  so two writers holding the same block etag cannot both win (412 → `VersionConflict`).
- entry `e-{entry id}` (the caller's id, or a fresh one): seq, ts, kind, text/data (or a blob name), size and
  the distinct lowercase words for search. The id is the item id, so appending a known id is a 409, and
  compaction does not delete folded entries: it replaces them with a small `folded` stub under the same id,
  so a retried append of an archived entry still adds nothing.
- archive `a-{first:012d}-{last:012d}`: names the archive blob; `~head`: the sequence counter (patch `incr`).

Search (the contract's bounded windows, ranked by `context_common.rank` like the other adapters): per
query word, the newest matching entries by their word array (`ARRAY_CONTAINS`, one `TOP … ORDER BY c.seq
DESC` query per word), all the words together in one more such query when a word is rare, then one query for
the hits' text. No stemming: Cosmos full-text search needs a full-text policy that infra does not set and the
emulator lacks. Blocks are all read and matched in Python (an agent has few); their "newest" is the last
written.

Compaction writes, in order: the archive blob; then the archive item, the folded stubs (each conditioned on the
entry's `_etag`: a concurrent change → `VersionConflict`) and the summary entry. On real Cosmos, up to 98
folded entries go in one transactional batch (atomic); larger compactions and the emulator write the archive
item first, so nothing is ever folded without an archive naming it; a crash part-way leaves some entries both
live and archived (nothing lost; compact again).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aos.adapters.azure.cosmos.keys import CONTEXT, safe_id
from aos.adapters.azure.cosmos.mailbox import delete_all
from aos.adapters.azure.cosmos.ops import BATCH_LIMIT, Cosmos, Exists, Missing, Stale
from aos.adapters.embedded import context_common as cc
from aos.adapters.embedded.common import micros
from aos.errors import NotFound, ValidationFailed, VersionConflict
from aos.ports import (
    CONTEXT_INLINE_LIMIT,
    Appended,
    ArchiveInfo,
    BlobStore,
    ContextStats,
    ContextStore,
    JournalEntry,
    JournalPage,
    MemoryBlock,
    NewEntry,
    SearchHit,
)

_Q = "SELECT * FROM c WHERE c.agentKey = @pk AND c.kind = "


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


class CosmosContextStore(ContextStore):
    def __init__(self, cosmos: Cosmos, blobs: BlobStore) -> None:
        self._db = cosmos
        self._blobs = blobs

    # ------------------------------------------------------------ blocks

    async def list_blocks(self, key: str) -> list[MemoryBlock]:
        docs = await self._db.query(CONTEXT, _Q + "'block' ORDER BY c.label", {"@pk": key}, key)
        return [await self._block(d) for d in docs]

    async def get_block(self, key: str, label: str) -> MemoryBlock:
        doc = await self._db.read(CONTEXT, "b-" + cc.check_label(label), key)
        if doc is None:
            raise NotFound(f"no block '{label}' in this context; list_blocks shows the labels", label=label)
        return await self._block(doc)

    async def _block(self, doc: dict[str, Any]) -> MemoryBlock:
        stored = doc["value"] if doc["blob"] is None else (await self._blobs.get(doc["blob"])).decode()
        return MemoryBlock(
            doc["label"], doc["bkind"], cc.decode_block_value(stored, doc["bkind"]), doc["size"], doc["limit"],
            doc["version"], doc["etag"], datetime.fromisoformat(doc["updatedAt"]),
        )

    async def put_block(
        self,
        key: str,
        label: str,
        value: Any,
        *,
        kind: str = "text",
        limit: int | None = None,
        etag: str | None = None,
        force: bool = False,
    ) -> MemoryBlock:
        cc.check_label(label)
        stored = cc.encode_block_value(value, kind)
        size = len(stored.encode())
        current = await self._db.read(CONTEXT, "b-" + label, key)
        lim = limit or (current["limit"] if current else self.DEFAULT_BLOCK_LIMIT)
        cc.check_limit(size, lim, label)
        _check_etag(label, current, etag, force)
        blob = await cc.offload(self._blobs, key, stored)
        block = MemoryBlock(label, kind, value, size, lim, current["version"] + 1 if current else 1,
                            cc.new_etag(), cc.utcnow())
        doc = {"id": "b-" + label, "agentKey": key, "kind": "block", "label": label, "bkind": kind,
               "value": None if blob else stored, "blob": blob, "itext": stored[:CONTEXT_INLINE_LIMIT],
               "size": size, "limit": lim, "version": block.version, "etag": block.etag,
               "updatedAt": block.updated_at.isoformat()}
        try:
            if current is None:
                await self._db.create(CONTEXT, doc)
            elif force:
                await self._db.upsert(CONTEXT, doc)
            else:
                await self._db.replace(CONTEXT, doc, current["_etag"])
        except Exists:
            raise VersionConflict(f"block '{label}' already exists: pass its etag to replace it", label=label) from None
        except (Stale, Missing):
            raise VersionConflict(f"block '{label}' changed since etag {etag}: re-read it and retry", label=label) from None
        return block

    async def delete_block(self, key: str, label: str, *, etag: str | None = None) -> bool:
        current = await self._db.read(CONTEXT, "b-" + cc.check_label(label), key)
        if current is None:
            return False
        if etag is not None and etag != current["etag"]:
            raise VersionConflict(f"block '{label}' changed since etag {etag}: re-read it and retry", label=label)
        try:
            return await self._db.delete(CONTEXT, current["id"], key, current["_etag"] if etag else None)
        except Stale:
            raise VersionConflict(f"block '{label}' changed since etag {etag}: re-read it and retry", label=label) from None

    # ------------------------------------------------------------ journal

    async def append(self, key: str, entries: Sequence[NewEntry]) -> Appended:
        checked = [(e, *cc.check_entry(e)) for e in entries]
        ids = [e.id or uuid.uuid4().hex for e in entries]
        known = await self._known(key, [i for e, i in zip(entries, ids) if e.id is not None])
        fresh = [n for n, (e, i) in enumerate(zip(entries, ids)) if i not in known and i not in ids[:n]]
        seq = await self._take_seqs(key, len(fresh)) if fresh else 0
        out: dict[int, JournalEntry] = {}
        docs = []
        for n in fresh:
            entry, kind, data_json, size = checked[n]
            blob = await cc.offload_entry(self._blobs, key, entry.text, data_json, size)
            ts = entry.ts or cc.utcnow()
            index = cc.index_text(entry.text, data_json)
            docs.append({"id": "e-" + safe_id(ids[n]), "agentKey": key, "kind": "entry", "eid": ids[n],
                         "seq": seq, "ts": micros(ts), "tsIso": ts.isoformat(), "ekind": kind,
                         "text": None if blob else entry.text, "data": None if blob else data_json, "blob": blob,
                         "itext": index if blob else None, "size": size, "terms": sorted(set(cc.words(index)))})
            out[n] = JournalEntry(ids[n], seq, ts, kind, entry.text, entry.data, size)
            seq += 1
        await self._write_entries(key, docs)
        result = []
        for n, entry_id in enumerate(ids):
            if n in out:
                result.append(out[n])
            elif entry_id in known:
                result.append(await self._as_entry(known[entry_id]))
            else:  # the same id twice in one call: the first occurrence is what is stored
                result.append(out[ids.index(entry_id)])
        return Appended(tuple(result), len(fresh), await self.stats(key))

    async def _known(self, key: str, entry_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not entry_ids:
            return {}
        sql = ("SELECT * FROM c WHERE c.agentKey = @pk AND (c.kind = 'entry' OR c.kind = 'folded') "
               "AND ARRAY_CONTAINS(@ids, c.id)")
        docs = await self._db.query(CONTEXT, sql, {"@pk": key, "@ids": ["e-" + safe_id(i) for i in entry_ids]}, key)
        return {d["eid"]: d for d in docs}

    async def _take_seqs(self, key: str, count: int) -> int:
        """Reserve `count` sequence numbers; returns the first. Numbers are never reused (a crash wastes them)."""
        for _ in range(3):
            try:
                doc = await self._db.patch(CONTEXT, "~head", key, [{"op": "incr", "path": "/next", "value": count}])
                return int(doc["next"]) - count
            except Missing:
                try:
                    await self._db.create(CONTEXT, {"id": "~head", "agentKey": key, "kind": "head", "next": count + 1})
                    return 1
                except Exists:
                    continue
        raise VersionConflict(f"sequence counter of '{key}' could not be taken; retry")

    async def _write_entries(self, key: str, docs: list[dict[str, Any]]) -> None:
        """An id appended concurrently by another writer is a 409: `VersionConflict`, and a retried append
        then finds it known (the kernel serializes an agent's steps, so this is rare)."""
        try:
            if self._db.supports_batch and len(docs) > 1:
                for i in range(0, len(docs), BATCH_LIMIT):
                    await self._db.batch(CONTEXT, key, [("create", (d,)) for d in docs[i : i + BATCH_LIMIT]])
                return
            for doc in docs:
                await self._db.create(CONTEXT, doc)
        except Exists:
            raise VersionConflict(f"an entry of '{key}' was appended concurrently; retry the append") from None

    async def _as_entry(self, doc: dict[str, Any]) -> JournalEntry:
        ts = datetime.fromisoformat(doc["tsIso"])
        if doc["kind"] == "folded":
            return cc.folded_entry(doc["eid"], doc["seq"], ts, doc["ekind"])
        text, data_json = doc["text"], doc["data"]
        if doc["blob"] is not None:
            payload = cc.Payload.loads(await self._blobs.get(doc["blob"]))
            text, data_json = payload.text, payload.data_json
        data = None if data_json is None else cc.decode_block_value(data_json, "json")
        return JournalEntry(doc["eid"], doc["seq"], ts, doc["ekind"], text, data, doc["size"])

    async def page(
        self,
        key: str,
        *,
        cursor: str | None = None,
        limit: int = 50,
        kinds: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        newest_first: bool = False,
    ) -> JournalPage:
        if not 1 <= limit <= 1000:
            raise ValidationFailed(f"limit {limit} is out of range 1..1000")
        where = ["c.agentKey = @pk", "c.kind = 'entry'"]
        params: dict[str, Any] = {"@pk": key, "@n": limit + 1}
        if cursor:
            where.append("c.seq < @after" if newest_first else "c.seq > @after")
            params["@after"] = cc.decode_cursor(cursor)
        if kinds:
            where.append("ARRAY_CONTAINS(@kinds, c.ekind)")
            params["@kinds"] = list(kinds)
        if since:
            where.append("c.ts >= @since")
            params["@since"] = micros(since)
        if until:
            where.append("c.ts < @until")
            params["@until"] = micros(until)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT TOP @n * FROM c WHERE {' AND '.join(where)} ORDER BY c.seq {order}"
        docs = await self._db.query(CONTEXT, sql, params, key)
        more = len(docs) > limit
        docs = docs[:limit]
        entries = tuple([await self._as_entry(d) for d in docs])
        return JournalPage(entries, cc.encode_cursor(docs[-1]["seq"]) if more else None)

    async def stats(self, key: str) -> ContextStats:
        sql = ("SELECT COUNT(1) AS n, SUM(c.size) AS b, MIN(c.seq) AS lo, MAX(c.seq) AS hi FROM c "
               "WHERE c.agentKey = @pk AND c.kind = @kind")
        entries = (await self._db.query(CONTEXT, sql, {"@pk": key, "@kind": "entry"}, key) or [{}])[0]
        blocks = (await self._db.query(CONTEXT, sql, {"@pk": key, "@kind": "block"}, key) or [{}])[0]
        n = int(entries.get("n") or 0)
        return ContextStats(
            blocks=int(blocks.get("n") or 0),
            block_bytes=int(blocks.get("b") or 0),
            entries=n,
            entry_bytes=int(entries.get("b") or 0),
            oldest_seq=entries.get("lo") if n else None,
            newest_seq=entries.get("hi") if n else None,
        )

    # ------------------------------------------------------------ search

    async def search(
        self, key: str, query: str, *, limit: int = 10, sources: Sequence[str] = ("block", "journal")
    ) -> list[SearchHit]:
        terms = cc.search_terms(query)
        if not terms:
            return []
        window = self.SEARCH_WINDOW
        found: list[cc.Matches] = []
        blocks: list[tuple[str, str]] = []
        if "block" in sources:  # every block is read (an agent's blocks are few); ref: place in write order
            docs = await self._db.query(CONTEXT, _Q + "'block'", {"@pk": key}, key)
            docs.sort(key=lambda d: datetime.fromisoformat(d["updatedAt"]))
            blocks = [(d["label"], d["itext"]) for d in docs]
            found.append(cc.block_matches(blocks, terms, window))
        if "journal" in sources:
            found.append(await self._journal_matches(key, terms, window))
        ranked = cc.rank(terms, found, limit)
        seqs = [ref for source, ref, _ in ranked if source == "journal"]
        entries: dict[int, dict[str, Any]] = {}
        if seqs:
            sql = f"{_Q}'entry' AND ARRAY_CONTAINS(@seqs, c.seq)"
            docs = await self._db.query(CONTEXT, sql, {"@pk": key, "@seqs": seqs}, key)
            entries = {d["seq"]: d for d in docs}
        hits = []
        for source, ref, score in ranked:
            if source == "block":
                label, body = blocks[ref]
                hits.append(SearchHit("block", label, score, cc.snippet(body, terms)))
            elif (doc := entries.get(ref)) is not None:  # absent: folded since the lookup
                body = doc["itext"] if doc["blob"] else cc.index_text(doc["text"], doc["data"])
                hits.append(SearchHit("journal", doc["eid"], score, cc.snippet(body, terms), ref))
        return hits

    async def _journal_matches(self, key: str, terms: list[str], window: int) -> cc.Matches:
        """Per word, the newest `window` entries holding it (one TOP query each, newest first by seq); all the
        words together only when a word has fewer matches than that (see `cc.needs_every`)."""

        async def newest(wanted: list[str]) -> list[int]:
            params: dict[str, Any] = {"@pk": key, "@n": window}
            conditions = []
            for i, term in enumerate(wanted):
                conditions.append(f"ARRAY_CONTAINS(c.terms, @t{i})")
                params[f"@t{i}"] = term
            sql = (f"SELECT TOP @n c.seq FROM c WHERE c.agentKey = @pk AND c.kind = 'entry' AND "
                   f"{' AND '.join(conditions)} ORDER BY c.seq DESC")
            return [d["seq"] for d in await self._db.query(CONTEXT, sql, params, key)]

        each = {t: await newest([t]) for t in terms}
        every = await newest(terms) if cc.needs_every(each, window) else []
        head = await self._db.read(CONTEXT, "~head", key)
        next_seq = int(head["next"]) if head else 1
        total = next_seq - 1  # entries ever appended: a live count would be a query over all of them
        df = {t: float(len(r)) if len(r) < window else cc.estimate_df(window, total, next_seq - r[-1])
              for t, r in each.items()}
        return cc.Matches("journal", total, each, every, df)

    # ------------------------------------------------------------ compaction

    async def compact(self, key: str, through_seq: int, summary: NewEntry) -> ArchiveInfo:
        sql = f"{_Q}'entry' AND c.seq <= @through ORDER BY c.seq"
        folded = await self._db.query(CONTEXT, sql, {"@pk": key, "@through": through_seq}, key)
        if not folded:
            raise ValidationFailed(f"nothing to compact at or before seq {through_seq}")
        kind, data_json, size = cc.check_entry(summary)
        full = [await self._as_entry(d) for d in folded]
        first, last = folded[0]["seq"], folded[-1]["seq"]
        name = cc.archive_name(key, first, last)
        ref = await self._blobs.put(name, cc.archive_bytes(full), "application/json")
        sid = cc.summary_id(first, last)
        ts = summary.ts or cc.utcnow()
        now = cc.utcnow()
        info = ArchiveInfo(name, first, last, len(folded), ref.size, sid, now)
        archive = {"id": f"a-{first:012d}-{last:012d}", "agentKey": key, "kind": "archive", "name": name,
                   "first": first, "last": last, "entries": len(folded), "bytes": ref.size, "summaryId": sid,
                   "createdAt": now.isoformat()}
        index = cc.index_text(summary.text, data_json)
        summary_doc = {"id": "e-" + safe_id(sid), "agentKey": key, "kind": "entry", "eid": sid, "seq": last,
                       "ts": micros(ts), "tsIso": ts.isoformat(), "ekind": kind, "text": summary.text,
                       "data": data_json, "blob": None, "itext": None, "size": size,
                       "terms": sorted(set(cc.words(index)))}
        stubs = [({"id": d["id"], "agentKey": key, "kind": "folded", "eid": d["eid"], "seq": d["seq"],
                   "ekind": d["ekind"], "tsIso": d["tsIso"], "blob": d["blob"]}, d["_etag"]) for d in folded]
        try:
            if self._db.supports_batch and len(stubs) + 2 <= BATCH_LIMIT:
                ops: list[tuple[Any, ...]] = [("create", (archive,))]
                ops += [("replace", (s["id"], s), {"if_match_etag": etag}) for s, etag in stubs]
                ops.append(("create", (summary_doc,)))
                await self._db.batch(CONTEXT, key, ops)
            else:
                await self._db.create(CONTEXT, archive)
                for stub, etag in stubs:
                    await self._db.replace(CONTEXT, stub, etag)
                await self._db.create(CONTEXT, summary_doc)
        except (Stale, Missing, Exists):
            raise VersionConflict(f"the journal changed while compacting through seq {through_seq}; retry") from None
        return info

    async def list_archives(self, key: str) -> list[ArchiveInfo]:
        docs = await self._db.query(CONTEXT, _Q + "'archive' ORDER BY c.name", {"@pk": key}, key)
        return [_archive(d) for d in docs]

    async def read_archive(self, key: str, name: str) -> list[JournalEntry]:
        sql = f"{_Q}'archive' AND c.name = @name"
        if not await self._db.query(CONTEXT, sql, {"@pk": key, "@name": name}, key):
            raise NotFound(f"no archive '{name}' in this context; list_archives shows the names")
        return cc.archive_entries(await self._blobs.get(name))

    async def purge(self, key: str) -> dict[str, int]:
        docs = await self._db.query(CONTEXT, "SELECT c.id, c.kind FROM c WHERE c.agentKey = @pk", {"@pk": key}, key)
        kinds = Counter(d["kind"] for d in docs)
        await delete_all(self._db, CONTEXT, key, [d["id"] for d in docs])
        blobs = 0
        for ref in await self._blobs.list(f"context/{key}/"):
            blobs += await self._blobs.delete(ref.name)
        return {"blocks": kinds["block"], "entries": kinds["entry"] + kinds["folded"], "archives": kinds["archive"],
                "blobs": blobs}


def _check_etag(label: str, current: dict[str, Any] | None, etag: str | None, force: bool) -> None:
    if force:
        return
    if etag is None and current is not None:
        raise VersionConflict(
            f"block '{label}' already exists: pass its etag ({current['etag']}) to replace it", label=label
        )
    if etag is not None and (current is None or current["etag"] != etag):
        raise VersionConflict(f"block '{label}' changed since etag {etag}: re-read it and retry", label=label)


def _archive(doc: dict[str, Any]) -> ArchiveInfo:
    return ArchiveInfo(doc["name"], doc["first"], doc["last"], doc["entries"], doc["bytes"], doc["summaryId"],
                       datetime.fromisoformat(doc["createdAt"]))
