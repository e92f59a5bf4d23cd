"""What the CLI prints: `aos steps` with the model's summary, its calls and blocked effects; and text from the
API (notes, errors, event sources, problem details) printed as it is, never read as rich markup (a `[/]` in a
note used to crash `aos steps` with a MarkupError). The API is tested elsewhere; here the client is replaced at
the CLI's seam."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from aos import cli
from aos.client import ApiError

PAGE = {"items": [{
    "seq": 2, "status": "done", "events": [{"type": "question.asked"}], "error": None,
    "decision": {
        "effects": [
            {"kind": "emit", "type": "question.answered", "data": {}},
            {"kind": "note", "text": "[/] is not markup here [bold]nor this[/bold]"},
            {"kind": "send", "to": "billing-desk", "type": "refund.requested", "data": {}},
        ],
        "outcomes": [{"index": 2, "action": "message.send", "outcome": "held", "policy": "p", "rule": "r",
                      "reason": "refunds need [an] approval"}],
        "summary": "answered [T-41]", "model_calls": 2, "tokens": 84},
}, {"seq": 1, "status": "failed", "events": [{"type": "question.asked"}], "error": "model endpoint answered 429: [/] slow down",
    "decision": None}], "next_cursor": None}


class FakeClient:
    def __enter__(self) -> FakeClient:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def get(self, path: str, **params: Any) -> Any:
        assert path == "/api/agents/assistant/steps"
        return PAGE


def test_steps_show_summary_model_calls_and_blocked_effects_literally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_client", lambda url, key: FakeClient())
    result = CliRunner().invoke(cli.app, ["steps", "assistant"])
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert lines == [
        "#2 done ← question.asked",
        "→ emit question.answered",
        "→ note [/] is not markup here [bold]nor this[/bold]",
        "→ send refund.requested to billing-desk (held: refunds need [an] approval)",
        "summary: answered [T-41]",
        "2 model call(s), 84 tokens",
        "#1 failed ← question.asked",
        "model endpoint answered 429: [/] slow down",
    ]


class Events(FakeClient):
    def get(self, path: str, **params: Any) -> Any:
        return {"items": [{"pos": 7, "event": {"type": "x.y", "source": "[/]odd[b]source"}, "delivered_to": []}]}


class Refused(FakeClient):
    def get(self, path: str, **params: Any) -> Any:
        raise ApiError(404, "Not found", "agent '[/]x' does not exist")


def test_event_sources_and_problem_details_print_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_client", lambda url, key: Events())
    result = CliRunner().invoke(cli.app, ["events"])
    assert result.exit_code == 0, result.output
    assert "[/]odd[b]source" in result.output
    monkeypatch.setattr(cli, "_client", lambda url, key: Refused())
    result = CliRunner().invoke(cli.app, ["steps", "x"])
    assert result.exit_code == 1
    assert "error 404 Not found: agent '[/]x' does not exist" in " ".join(result.output.split())
