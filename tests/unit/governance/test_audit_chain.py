"""The audit log is a hash chain per tenant: a row altered, removed, reordered or cut off is detected, and the
first broken record is named. Tampering happens on the SQLite rows directly, as an attacker with file access."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from aos.adapters.embedded import ManualClock, open_sqlite
from aos.kernel.audit import Auditor, redact
from aos.ports import Stores

pytestmark = pytest.mark.anyio


async def filled(tmp_path: Path, n: int = 6) -> tuple[Stores, Auditor]:
    stores = await open_sqlite(tmp_path, clock=ManualClock())
    auditor = Auditor(stores.governance.audit, stores.clock)
    for i in range(n):
        await auditor.append("acme", [auditor.entry("call", f"agents.get.{i}", actor="key:k", n=i)])
    await auditor.append("other", [auditor.entry("call", "agents.list")])
    return stores, auditor


def sql(tmp_path: Path, *statements: str) -> None:
    conn = sqlite3.connect(tmp_path / "aos.db")
    with conn:
        for s in statements:
            conn.execute(s)
    conn.close()


async def test_an_untouched_chain_verifies(tmp_path: Path) -> None:
    stores, auditor = await filled(tmp_path)
    result = await auditor.verify("acme")
    assert (result.ok, result.records, result.head_seq, result.first_broken) == (True, 6, 6, None)
    await stores.close()


@pytest.mark.parametrize(("tamper", "broken_seq", "words"), [
    # altered: a field inside the stored JSON changes
    (["UPDATE audit SET record = replace(record, '\"n\":2', '\"n\":7') WHERE tenant='acme' AND seq=3"], 3, "altered"),
    # removed from the middle
    (["DELETE FROM audit WHERE tenant='acme' AND seq=4"], 4, "missing"),
    # reordered: rows 2 and 5 swap places
    (["UPDATE audit SET seq = -1 WHERE tenant='acme' AND seq=2",
      "UPDATE audit SET seq = 2 WHERE tenant='acme' AND seq=5",
      "UPDATE audit SET seq = 5 WHERE tenant='acme' AND seq=-1"], 2, "out of order"),
    # the tail cut off
    (["DELETE FROM audit WHERE tenant='acme' AND seq >= 5"], 5, "removed from the end"),
])
async def test_tampering_with_the_rows_is_detected_at_the_first_broken_record(
    tmp_path: Path, tamper: list[str], broken_seq: int, words: str
) -> None:
    stores, _ = await filled(tmp_path)
    await stores.close()
    sql(tmp_path, *tamper)
    stores = await open_sqlite(tmp_path, clock=ManualClock())
    auditor = Auditor(stores.governance.audit, stores.clock)
    result = await auditor.verify("acme")
    assert not result.ok and result.first_broken is not None
    assert result.first_broken.seq == broken_seq and words in result.first_broken.reason
    assert (await auditor.verify("other")).ok  # chains are per tenant
    await stores.close()


async def test_a_rehashed_forgery_still_breaks_at_the_next_link(tmp_path: Path) -> None:
    """Recomputing the altered record's own hash is not enough: the next record's prev no longer matches."""
    from aos.governance_model import AuditRecord, audit_hash

    stores, _ = await filled(tmp_path)
    row = await stores.governance.audit.scan("acme", after=2, limit=1)
    forged = row[0].model_dump()
    forged["details"] = {"n": 99}
    forged["hash"] = audit_hash(forged, forged["prev"])
    await stores.close()
    text = AuditRecord(**forged).model_dump_json().replace("'", "''")
    sql(tmp_path, f"UPDATE audit SET record = '{text}' WHERE tenant='acme' AND seq=3")
    stores = await open_sqlite(tmp_path, clock=ManualClock())
    result = await Auditor(stores.governance.audit, stores.clock).verify("acme")
    assert result.first_broken is not None and result.first_broken.seq == 4
    await stores.close()


def test_secrets_are_redacted_and_counts_kept() -> None:
    cleaned = redact({"api_key": "abc", "Authorization": "Bearer x", "settings": {"openai_token": "t",
                      "model": "m"}, "tokens": 812, "note": "aos_k1_secretvalue", "password": None})
    assert cleaned == {"api_key": "[redacted]", "Authorization": "[redacted]",
                       "settings": {"openai_token": "[redacted]", "model": "m"}, "tokens": 812,
                       "note": "[redacted]", "password": None}
    assert "secretvalue" not in json.dumps(cleaned)
