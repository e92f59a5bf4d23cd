"""Keeps an agent's live context under its budget by folding old journal entries into a summary.

Why here and not in the store: the store folds what it is told to (atomically, with an archive); the policy
(how much to fold, who writes the summary) belongs to the server, where the agent's brain can plug in a
summarizer. The default summary is extractive and deterministic, so a retried compaction writes the same text.
Nothing is dropped: every folded entry is in an archive the summary entry points to.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aos.errors import VersionConflict
from aos.ports import ArchiveInfo, ContextStats, ContextStore, JournalEntry, NewEntry

log = logging.getLogger(__name__)

#: Turns the entries about to be folded into summary text (the agent's brain, when it can summarize).
Summarizer = Callable[[Sequence[JournalEntry]], Awaitable[str]]

_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
    ]
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{3,}")


@dataclass(frozen=True)
class Budget:
    """Per-agent live-context budget. Above either limit, the oldest entries fold until the live journal is
    back to `keep` of the budget (so compaction runs rarely, not on every append)."""

    max_entries: int = 2000
    max_bytes: int = 2 * 1024 * 1024
    keep: float = 0.5

    def over(self, stats: ContextStats) -> bool:
        return stats.entries > self.max_entries or stats.entry_bytes > self.max_bytes


def extractive_summary(entries: Sequence[JournalEntry], max_lines: int = 40) -> str:
    """A deterministic digest: span, kinds, frequent terms, then first lines of evenly spaced entries."""
    kinds = Counter(e.kind for e in entries)
    terms = Counter(w.lower() for e in entries for w in _WORD.findall(e.text) if w.lower() not in _STOP)
    step = max(1, -(-len(entries) // max_lines))
    lines = [
        (
            f"Summary of {len(entries)} journal entries, seq {entries[0].seq}-{entries[-1].seq}, "
            f"{entries[0].ts.isoformat()} to {entries[-1].ts.isoformat()}."
        ),
        "Kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ".",
        "Frequent terms: " + ", ".join(t for t, _ in terms.most_common(12)) + ".",
    ]
    for e in entries[::step]:
        first = (e.text.strip().splitlines() or [""])[0][:160]
        lines.append(f"- [{e.seq} {e.kind}] {first}")
    return "\n".join(lines)


class Compactor:
    def __init__(self, store: ContextStore, budget: Budget, summarizer: Summarizer | None = None) -> None:
        self.store = store
        self.budget = budget
        self.summarizer = summarizer

    async def maybe_compact(self, key: str, stats: ContextStats) -> ArchiveInfo | None:
        """Compact when `stats` is over budget. A concurrent compaction that won makes this a no-op."""
        if not self.budget.over(stats):
            return None
        try:
            return await self.compact(key, stats, force=False)
        except VersionConflict:
            return None

    async def compact(self, key: str, stats: ContextStats, *, force: bool) -> ArchiveInfo | None:
        """Fold the oldest entries down to `keep` of the budget (with `force`, at least the older half)."""
        need_n = stats.entries - int(self.budget.max_entries * self.budget.keep)
        need_b = stats.entry_bytes - int(self.budget.max_bytes * self.budget.keep)
        if force:
            need_n = max(need_n, stats.entries // 2)
        if stats.entries < 2 or (need_n <= 0 and need_b <= 0):
            return None
        folded = await self._oldest(key, need_n, need_b, stats.entries - 1)
        summary = await self._summarize(folded)
        data = {"first_seq": folded[0].seq, "last_seq": folded[-1].seq, "entries": len(folded)}
        return await self.store.compact(key, folded[-1].seq, NewEntry("summary", summary, data=data))

    async def _oldest(self, key: str, need_n: int, need_b: int, cap: int) -> list[JournalEntry]:
        out: list[JournalEntry] = []
        size = 0
        cursor: str | None = None
        while len(out) < cap and (len(out) < need_n or size < need_b):
            page = await self.store.page(key, cursor=cursor, limit=500)
            for e in page.entries:
                if len(out) >= cap or (len(out) >= need_n and size >= need_b):
                    break
                out.append(e)
                size += e.size
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return out

    async def _summarize(self, entries: Sequence[JournalEntry]) -> str:
        if self.summarizer is None:
            return extractive_summary(entries)
        try:
            text = await self.summarizer(entries)
        except Exception as e:  # noqa: BLE001 - the brain failed; fall back to a real (extractive) summary
            log.warning("context summarizer failed, using the extractive summary: %r", e)
            return extractive_summary(entries) + f"\n(summarizer failed: {type(e).__name__})"
        if not isinstance(text, str) or not text.strip():
            return extractive_summary(entries) + "\n(summarizer returned nothing)"
        return text
