"""The `aos` command: `aos up` runs the embedded OS; the rest talk to a running AOS over its HTTP API.

The API URL and key come from `--url`/`--key`, else `AOS_URL` and `AOS_API_KEY` (or `AOS_ADMIN_KEY`).
Errors from the API are printed as their problem title and detail, with exit code 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aos.client import ApiError, Client

app = typer.Typer(help="AOS: an operating system for perpetual AI agents.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
agents_app = typer.Typer(help="Register, inspect and control agents.", no_args_is_help=True)
keys_app = typer.Typer(help="Issue and revoke API keys (admin).", no_args_is_help=True)
mcp_app = typer.Typer(help="Serve ContextMCPServers to local MCP clients.", no_args_is_help=True)
app.add_typer(agents_app, name="agents")
app.add_typer(keys_app, name="keys")
app.add_typer(mcp_app, name="mcp")
audit_app = typer.Typer(help="Read and verify the tamper-evident audit log.", no_args_is_help=True)
policies_app = typer.Typer(help="Manage policy documents (admin).", no_args_is_help=True)
approvals_app = typer.Typer(help="Decide effects parked for approval (operator).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(policies_app, name="policies")
app.add_typer(approvals_app, name="approvals")
out = Console()
err = Console(stderr=True)

UrlOpt = typer.Option(None, "--url", help="AOS API base URL [env AOS_URL]")
KeyOpt = typer.Option(None, "--key", help="API key [env AOS_API_KEY, AOS_ADMIN_KEY]")
JsonOpt = typer.Option(False, "--json", help="print raw JSON")


def _client(url: str | None, key: str | None) -> Client:
    url = url or os.environ.get("AOS_URL") or "http://127.0.0.1:7071"
    key = key or os.environ.get("AOS_API_KEY") or os.environ.get("AOS_ADMIN_KEY")
    return Client(url, key)


def _run(url: str | None, key: str | None, fn: Any) -> Any:
    try:
        with _client(url, key) as client:
            return fn(client)
    except ApiError as e:
        err.print(f"[red]error[/red] {e.status} {escape(f'{e.title}: {e.detail}')}")
        raise typer.Exit(1) from None


def _print_json(value: Any) -> None:
    out.print_json(json.dumps(value, default=str))


@app.command()
def up(
    host: str = typer.Option(None, help="interface [env AOS_HOST, default 127.0.0.1]"),
    port: int = typer.Option(None, help="port [env AOS_PORT, default 7071]"),
    data_dir: Path = typer.Option(None, "--data-dir", help="data directory [env AOS_DATA_DIR, default .aos]"),  # noqa: B008
    workers: int = typer.Option(None, help="concurrent steps [env AOS_WORKERS, default 16]"),
    backend: str = typer.Option(None, help="embedded | memory | azure-local | azure [env AOS_BACKEND]"),
    samples: bool = typer.Option(False, "--samples", help="register the sample agents from examples/"),
    brain_path: str = typer.Option(
        None, "--brain-path",
        help="where python brains' modules load from: directories, ':'-separated [env AOS_PYTHON_BRAIN_PATH, "
             "default . (the directory aos up runs in)]"),
) -> None:
    """Run AOS embedded: API, agents, timers and ContextMCPServers in one process."""
    from aos.runtime.serve import serve_forever

    overrides = {"AOS_HOST": host, "AOS_PORT": port, "AOS_DATA_DIR": data_dir, "AOS_WORKERS": workers,
                 "AOS_BACKEND": backend, "AOS_PYTHON_BRAIN_PATH": brain_path}
    env = dict(os.environ)
    env.update({k: str(v) for k, v in overrides.items() if v is not None})
    code = serve_forever(env, samples=samples)
    raise typer.Exit(code)


@app.command()
def health(url: str | None = UrlOpt) -> None:
    """Is AOS up?"""
    _print_json(_run(url, None, lambda c: c.get("/api/health")))


@agents_app.command("ls")
def agents_ls(
    state: str | None = typer.Option(None, help="registered|active|suspended|retired|failed"),
    label: list[str] = typer.Option([], help="key=value (repeatable)"),  # noqa: B008
    limit: int = 50, cursor: str | None = None,
    url: str | None = UrlOpt, key: str | None = KeyOpt, as_json: bool = JsonOpt,
) -> None:
    """List agents."""
    page = _run(url, key, lambda c: c.get("/api/agents", state=state, label=label or None, limit=limit,
                                          cursor=cursor))
    if as_json:
        return _print_json(page)
    table = Table("id", "state", "activity", "brain", "subscriptions", "next wake")
    for a in page["items"]:
        subs = ", ".join(s["type"] for s in a["spec"]["subscriptions"]) or "-"
        table.add_row(a["id"], a["state"], a["activity"], a["spec"]["brain"]["kind"], subs,
                      a["next_wake_at"] or "-")
    out.print(table)
    if page.get("next_cursor"):
        out.print(f"more: --cursor {page['next_cursor']}")


@agents_app.command("show")
def agents_show(agent: str, url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """Show one agent."""
    _print_json(_run(url, key, lambda c: c.get(f"/api/agents/{agent}")))


def read_text(path: Path) -> str:
    """A spec or policy file's text, or exit 2 saying why it cannot be read (missing, a directory, binary)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        err.print(f"[red]error[/red] {escape(f'cannot read {path}: {e}')}")
        raise typer.Exit(2) from None


def load_spec(path: Path) -> Any:
    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        err.print(f"[red]error[/red] {escape(f'{path} is not valid YAML/JSON: {e}')}")
        raise typer.Exit(2) from None


@agents_app.command("register")
def agents_register(file: Path, url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """Register an agent from a YAML or JSON spec file."""
    spec = load_spec(file)
    record = _run(url, key, lambda c: c.post("/api/agents", spec))
    out.print(f"registered [bold]{record['id']}[/bold] ({record['state']})")


@agents_app.command("suspend")
def agents_suspend(agent: str, url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """Suspend an agent (its mail is kept)."""
    record = _run(url, key, lambda c: c.post(f"/api/agents/{agent}/suspend"))
    out.print(f"{record['id']}: {record['state']}")


@agents_app.command("resume")
def agents_resume(agent: str, url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """Resume a suspended or failed agent."""
    record = _run(url, key, lambda c: c.post(f"/api/agents/{agent}/resume"))
    out.print(f"{record['id']}: {record['state']}")


@agents_app.command("rm")
def agents_rm(agent: str, purge: bool = typer.Option(False, help="also delete mail, state and context"),
              url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """Retire an agent (or purge it)."""
    _print_json(_run(url, key, lambda c: c.delete(f"/api/agents/{agent}", purge=str(purge).lower())))


@app.command()
def send(
    type: str = typer.Argument(..., help="CloudEvent type, e.g. ticket.created"),
    data: str = typer.Option("null", help="JSON data"),
    source: str = typer.Option("aos://cli", help="CloudEvent source"),
    subject: str | None = None,
    to: str | None = typer.Option(None, help="also address this agent directly"),
    id: str | None = typer.Option(None, help="event id (a repeated id is accepted once)"),
    url: str | None = UrlOpt, key: str | None = KeyOpt,
) -> None:
    """Publish a CloudEvent."""
    try:
        payload = json.loads(data)
    except ValueError as e:
        err.print(f"[red]error[/red] {escape(f'--data is not valid JSON: {e}')}")
        raise typer.Exit(2) from None
    event: dict[str, Any] = {"specversion": "1.0", "type": type, "source": source, "data": payload}
    for name, value in (("subject", subject), ("aostarget", to), ("id", id)):
        if value:
            event[name] = value
    result = _run(url, key, lambda c: c.post("/api/events", event))
    who = ", ".join(result["delivered_to"]) or "no agent (no subscriber matched)"
    dup = " (duplicate: already accepted)" if result["duplicate"] else ""
    out.print(escape(f"event {result['id']} → {who}{dup}"))


@app.command()
def steps(agent: str, limit: int = 10, url: str | None = UrlOpt, key: str | None = KeyOpt,
          as_json: bool = JsonOpt) -> None:
    """What an agent received, decided and emitted, newest first."""
    page = _run(url, key, lambda c: c.get(f"/api/agents/{agent}/steps", limit=limit))
    if as_json:
        return _print_json(page)
    for step in page["items"]:
        types = ", ".join(e["type"] for e in step["events"])
        out.print(f"[bold]#{step['seq']}[/bold] {step['status']} ← {escape(types)}")
        if step.get("error"):
            out.print(f"   [red]{escape(step['error'])}[/red]")
        decision = step.get("decision") or {}
        blocked = {o["index"]: o for o in decision.get("outcomes") or []}
        for i, effect in enumerate(decision.get("effects", [])):
            held = blocked.get(i)
            why = f"  [yellow]({held['outcome']}: {escape(str(held.get('reason') or held.get('rule')))})[/yellow]" \
                if held else ""
            out.print(f"   → {escape(_effect_line(effect))}{why}")
        if decision.get("summary"):
            out.print(f"   [dim]summary: {escape(str(decision['summary']))}[/dim]")
        if decision.get("model_calls"):
            out.print(f"   [dim]{decision['model_calls']} model call(s), {decision.get('tokens', 0)} tokens[/dim]")


def _effect_line(effect: dict[str, Any]) -> str:
    kind = effect["kind"]
    if kind == "send":
        return f"send {effect['type']} to {effect['to']}"
    if kind == "emit":
        return f"emit {effect['type']}" + (f" to {effect['to']}" if effect.get("to") else "")
    if kind == "state":
        return f"state {json.dumps(effect['set'])}"
    return f"note {effect['text']}"


@app.command()
def events(type: str | None = typer.Option(None, help="type prefix"), limit: int = 20,
           url: str | None = UrlOpt, key: str | None = KeyOpt, as_json: bool = JsonOpt) -> None:
    """The tenant's event log, newest first."""
    page = _run(url, key, lambda c: c.get("/api/events", type=type, limit=limit))
    if as_json:
        return _print_json(page)
    for item in page["items"]:
        event = item["event"]
        who = ", ".join(item["delivered_to"]) or "-"
        out.print(escape(f"{item['pos']:>6} {event['type']:<24} {event['source']:<28} → {who}"))


@keys_app.command("issue")
def keys_issue(role: str, agent: str | None = typer.Option(None, help="for role agent"),
               name: str = "", url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """Issue a key; its secret is printed once."""
    issued = _run(url, key, lambda c: c.post("/api/keys", {"role": role, "agent_id": agent, "name": name}))
    out.print(f"key {issued['id']} ({issued['role']}): {issued['secret']}")


@keys_app.command("ls")
def keys_ls(url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """List keys (no secrets)."""
    _print_json(_run(url, key, lambda c: c.get("/api/keys")))


@keys_app.command("revoke")
def keys_revoke(key_id: str, url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """Revoke a key."""
    revoked = _run(url, key, lambda c: c.delete(f"/api/keys/{key_id}"))
    out.print(f"key {revoked['id']} revoked at {revoked['revoked_at']}")


@audit_app.command("verify")
def audit_verify(url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """Recompute the tenant's hash chain; exit 1 and name the first broken record if it was tampered with."""
    result = _run(url, key, lambda c: c.post("/api/audit:verify"))
    if result["ok"]:
        out.print(f"audit chain intact: {result['records']} records (head {result['head_seq']})")
        return
    broken = result["first_broken"]
    err.print(f"[red]audit chain broken[/red] at record {broken['seq']}: {escape(str(broken['reason']))}")
    raise typer.Exit(1)


@audit_app.command("ls")
def audit_ls(limit: int = 20, kind: str | None = None, action: str | None = None, agent: str | None = None,
             url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """Audit records, newest first."""
    page = _run(url, key, lambda c: c.get("/api/audit", limit=limit, kind=kind, action=action, agent=agent))
    for r in page["items"]:
        out.print(f"{r['seq']:>6} {r['ts'][:19]} {r['kind']:<9} {r['action']:<24} {r['outcome']:<8} "
                  f"{r['agent_id'] or ''} {r['actor']}")


def _policy_body(file: Path) -> tuple[str, dict[str, str]]:
    text = read_text(file)
    kind = "application/json" if file.suffix == ".json" else "application/yaml"
    return text, {"Content-Type": kind}


@policies_app.command("put")
def policies_put(name: str, file: Path, url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """Create or replace a policy from a YAML or JSON file (a new version)."""
    text, headers = _policy_body(file)
    stored = _run(url, key, lambda c: c.call("PUT", f"/api/policies/{name}", content=text, headers=headers))
    out.print(f"policy {stored['name']} version {stored['version']}")


@policies_app.command("simulate")
def policies_simulate(name: str, file: Path, days: float = 7.0, url: str | None = UrlOpt,
                      key: str | None = KeyOpt) -> None:
    """Dry run a draft against the last DAYS of audit and step journals."""
    text, headers = _policy_body(file)
    _print_json(_run(url, key, lambda c: c.call("POST", f"/api/policies/{name}:simulate", content=text,
                                                 headers=headers, params={"days": days})))


@policies_app.command("ls")
def policies_ls(url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """List live policies."""
    _print_json(_run(url, key, lambda c: c.get("/api/policies")))


@policies_app.command("rm")
def policies_rm(name: str, url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """Delete a policy (its history is kept)."""
    _run(url, key, lambda c: c.delete(f"/api/policies/{name}"))
    out.print(f"policy {name} deleted")


@approvals_app.command("ls")
def approvals_ls(status: str = "pending", url: str | None = UrlOpt, key: str | None = KeyOpt) -> None:
    """List approvals (default: pending)."""
    _print_json(_run(url, key, lambda c: c.get("/api/approvals", status=status)))


@approvals_app.command("approve")
def approvals_approve(approval_id: str, note: str | None = None, url: str | None = UrlOpt,
                      key: str | None = KeyOpt) -> None:
    """Release a parked effect."""
    done = _run(url, key, lambda c: c.post(f"/api/approvals/{approval_id}:approve", {"note": note}))
    out.print(f"approval {done['id']} approved (applied: {done['applied']})")


@approvals_app.command("reject")
def approvals_reject(approval_id: str, note: str | None = None, url: str | None = UrlOpt,
                     key: str | None = KeyOpt) -> None:
    """Drop a parked effect."""
    done = _run(url, key, lambda c: c.post(f"/api/approvals/{approval_id}:reject", {"note": note}))
    out.print(f"approval {done['id']} rejected")


@mcp_app.command("context")
def mcp_context(
    agent: str,
    tenant: str = typer.Option(None, help="tenant [env AOS_DEFAULT_TENANT, default 'default']"),
    data_dir: Path = typer.Option(None, "--data-dir", help="data directory [env AOS_DATA_DIR]"),  # noqa: B008
) -> None:
    """Serve AGENT's ContextMCPServer over stdio (for an IDE's MCP client), from the embedded data directory."""
    import asyncio
    import logging

    from aos.config import Config
    from aos.errors import AosError
    from aos.runtime.serve import serve_context_stdio

    env = dict(os.environ)
    if data_dir is not None:
        env["AOS_DATA_DIR"] = str(data_dir)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        config = Config.load(env)
        asyncio.run(serve_context_stdio(config, tenant or config.default_tenant, agent))
    except AosError as e:
        err.print(f"[red]error[/red] {escape(f'{e.title}: {e.detail}')}")
        raise typer.Exit(1) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
