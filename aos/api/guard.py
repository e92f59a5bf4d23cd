"""Every system call passes the policy engine and leaves one audit record (invariant 5).

Routes declare their action with one dependency, `who: Annotated[Caller, governed("agents.suspend")]`: it
authenticates, asks the policy engine (a denial is a 403 problem naming the policy, rule and reason), and
prepares the call's audit record. `AuditMiddleware` writes that record, with the response status and anything
the kernel audited during the call (lifecycle changes, approvals), in one append, before the response
starts: a call whose audit cannot be written answers 500 instead of succeeding unrecorded.
Never recorded: request bodies, headers (so no Authorization), key secrets.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aos.api.deps import caller, system
from aos.kernel import Caller
from aos.kernel.audit import PENDING, PendingAudit
from aos.model import Role


def governed(action: str) -> Any:
    async def check(request: Request, who: Caller = Depends(caller)) -> Caller:  # noqa: B008 - FastAPI idiom
        await check_call(request, who, action, agent_id=request.path_params.get("agent_id"))
        return who

    return Depends(check)


async def check_call(request: Request, who: Caller, action: str, *, agent_id: str | None = None,
                     event_type: str | None = None, target: str | None = None, payload: Any = None) -> None:
    """Decide `action` for `who` (raises `PolicyDenied`) and note it in the call's audit record."""
    gov = system(request).kernel.governance
    if gov is None:
        return
    pending = PENDING.get()
    subject = agent_id or (who.agent_id if who.role is Role.AGENT else None)
    entry = gov.entry("call", action, actor=f"key:{who.key_id}", agent_id=subject, outcome="pending",
                      role=who.role.value, method=request.method, path=request.url.path, event_type=event_type,
                      target=target)
    if pending is not None and pending.tenant in (None, who.tenant):
        pending.tenant = who.tenant
        if pending.call is None:
            pending.call = entry
        elif event_type is not None:  # the same call, decided per event: one record lists the event types
            details = dict(pending.call.details or {})
            details["event_types"] = [*details.get("event_types", []), event_type]
            details["event_type"], details["target"] = event_type, target
            pending.call = replace(pending.call, details=details)
    if who.role is Role.ADMIN and action.startswith("policies."):
        return  # admins always manage policies, so a bad policy cannot lock everyone out
    try:
        await gov.check_call(who.tenant, who.role.value, action, agent_id=subject, event_type=event_type,
                             target=target, payload=payload)
    except Exception as e:
        if pending is not None:
            pending.verdict = {"verdict": "deny", **getattr(e, "attrs", {})}
        raise


class AuditMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware), so the endpoint runs in this task and sees `PENDING`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        pending = PendingAudit()
        token = PENDING.set(pending)

        async def send_audited(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._flush(scope, pending, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_audited)
        except BaseException:
            await self._flush(scope, pending, 500)
            raise
        finally:
            PENDING.reset(token)

    async def _flush(self, scope: Scope, pending: PendingAudit, status: int) -> None:
        if pending.flushed:
            return
        pending.flushed = True
        gov = scope["app"].state.system.kernel.governance
        if gov is None or pending.tenant is None or pending.call is None:
            return
        details = dict(pending.call.details or {}, status=status, **(pending.verdict or {}))
        outcome = "denied" if pending.verdict else ("ok" if status < 400 else "error")
        call = replace(pending.call, details=details, outcome=outcome)
        await gov.auditor.append(pending.tenant, [call, *(pending.entries or [])])


def audit_detail(**details: Any) -> None:
    """Add facts to the current call's audit record (redacted like every record)."""
    pending = PENDING.get()
    if pending is not None and pending.call is not None:
        from aos.kernel.audit import redact

        pending.call = replace(pending.call, details={**(pending.call.details or {}), **redact(details)})
