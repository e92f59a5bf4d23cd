"""The README's model-backed agent (`examples/assistant`) in a real `aos up`, against a chat-completions endpoint.

No model is reachable from here, so the endpoint is a stand-in at the protocol boundary: a real HTTP server
speaking the OpenAI chat-completions API (tool calls, tool results, usage), scripted like a model that follows
the example's instructions. Everything on AOS's side is real: the setting-driven registration check, the step's
HTTP calls with the key, the agent's ContextMCPServer tools run for the model, effects applied after journaling."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT, Server, start, wait_until
from .test_tour import run_block, section_blocks

pytestmark = pytest.mark.e2e

KEY, MODEL = "sk-stand-in-key", "stand-in-model"


class ChatStandIn(ThreadingHTTPServer):
    """`POST /v1/chat/completions`. A new step (the last message is the events) gets tool calls: search its
    memory, emit the answer, note it, count it; the tools' results get a one-line summary."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.headers_seen: list[str] = []

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        last = messages[-1]
        if last["role"] == "tool":
            return {"role": "assistant", "content": "answered the question"}
        events = json.loads(last["content"])
        ticket = events[0]["data"]["ticket"]
        answered = json.loads(messages[0]["content"].split("Your state: ", 1)[1].splitlines()[0]).get("answered", 0)
        calls = [("context__search", {"query": ticket}),
                 ("emit_event", {"type": "question.answered",
                                 "data": {"ticket": ticket, "answer": "You were charged once; the second is a hold."}}),
                 ("note", {"text": f"answered a question on {ticket}"}),
                 ("set_state", {"set": {"answered": answered + 1}})]
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call-{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)]}


class _Handler(BaseHTTPRequestHandler):
    server: ChatStandIn

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        self.server.headers_seen.append(self.headers.get("Authorization", ""))
        if self.path != "/v1/chat/completions":
            self.send_response(404)
            self.end_headers()
            return
        answer = json.dumps({"choices": [{"message": self.server.reply(body)}], "usage": {"total_tokens": 42}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def model() -> Iterator[ChatStandIn]:
    stand_in = ChatStandIn()
    thread = threading.Thread(target=stand_in.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    stand_in.shutdown()
    stand_in.server_close()


@pytest.fixture
def server_with_model(tmp_path: Path, model: ChatStandIn) -> Iterator[Server]:
    s = start(tmp_path / "data", env={"AOS_OPENAI_BASE_URL": f"http://127.0.0.1:{model.server_port}/v1",
                                      "AOS_OPENAI_API_KEY": KEY, "AOS_OPENAI_MODEL": MODEL})
    yield s
    assert s.stop() == 0, s.log.read_text()[-3000:]


def test_the_readme_model_agent_runs_as_written(server_with_model: Server, model: ChatStandIn) -> None:
    configure, use = section_blocks("An agent with a model")
    assert all(f"export {name}=" in configure
               for name in ("AOS_OPENAI_BASE_URL", "AOS_OPENAI_API_KEY", "AOS_OPENAI_MODEL"))  # what the server got
    run_block(use, ROOT, server_with_model)
    with server_with_model.client() as api:
        [answered] = wait_until(lambda: api.get("/api/events", params={"type": "question.answered"}).json()["items"],
                                what="question.answered")
        assert answered["event"]["data"]["ticket"] == "T-41"
        assert answered["event"]["source"] == "aos://agents/assistant"
        [step] = api.get("/api/agents/assistant/steps").json()["items"]
        assert [e["kind"] for e in step["decision"]["effects"]] == ["emit", "note", "state"]
        assert step["decision"]["summary"] == "answered the question"
        assert step["decision"]["model_calls"] == 2 and step["decision"]["tokens"] == 84
        assert api.get("/api/agents/assistant/state").json()["state"] == {"answered": 1}

    first, second = model.requests
    assert first["model"] == MODEL and set(model.headers_seen) == {f"Bearer {KEY}"}
    tools = {t["function"]["name"] for t in first["tools"]}
    assert {"emit_event", "send_message", "set_state", "note", "context__search", "context__block_read"} <= tools
    assert "Answer customers' questions" in first["messages"][0]["content"]  # the spec's purpose
    assert "context__search" in {t["function"]["name"] for t in first["tools"]}
    results = [m for m in second["messages"] if m["role"] == "tool"]
    assert len(results) == 4
    assert "hits" in json.loads(results[0]["content"])  # the context tool ran, through the agent's MCP session
    assert all(json.loads(r["content"]) == {"ok": True, "applied": "after this step"} for r in results[1:])


def test_without_a_model_endpoint_the_agent_is_refused_with_the_setting(server: Server) -> None:
    with server.client() as api:
        spec = yaml.safe_load((ROOT / "examples" / "assistant" / "assistant.yaml").read_text())
        answer = api.post("/api/agents", json=spec)
    assert answer.status_code == 422, answer.text
    assert "AOS_OPENAI_BASE_URL" in answer.text
