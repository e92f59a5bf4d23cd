"""`aos audit verify`: exit 0 on an intact chain, exit 1 naming the first broken record (the API it calls is
tested in test_api.py; here the client is replaced at the CLI's seam)."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from aos import cli


class FakeClient:
    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer, self.calls = answer, []

    def __enter__(self) -> FakeClient:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def post(self, path: str, body: Any = None) -> Any:
        self.calls.append(path)
        return self.answer


@pytest.mark.parametrize(("answer", "code", "text"), [
    ({"ok": True, "records": 12, "head_seq": 12, "first_broken": None}, 0, "intact: 12 records"),
    ({"ok": False, "records": 3, "head_seq": 12, "first_broken": {"seq": 4, "reason": "it was altered"}}, 1,
     "broken at record 4: it was altered"),
])
def test_audit_verify_reports_the_first_broken_record(monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any],
                                                      code: int, text: str) -> None:
    fake = FakeClient(answer)
    monkeypatch.setattr(cli, "_client", lambda url, key: fake)
    result = CliRunner().invoke(cli.app, ["audit", "verify"])
    assert result.exit_code == code
    assert text in " ".join(result.output.split())
    assert fake.calls == ["/api/audit:verify"]
