"""The one error hierarchy of AOS.

Every failure a user can see is an `AosError` subclass with a fixed meaning, an HTTP status for the API
layer, and a message that says what to do about it. Adapters wrap SDK errors (``raise StorageError(...) from
e``); nothing in AOS catches a broad exception and returns something that looks like success.
"""

from __future__ import annotations


class AosError(Exception):
    """Root of every AOS error. `status` and `kind` drive the RFC 9457 problem document."""

    status: int = 500
    kind: str = "internal"
    title: str = "AOS error"

    def __init__(self, detail: str, **attrs: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.attrs = {k: v for k, v in attrs.items() if v is not None}


class ValidationFailed(AosError):
    status, kind, title = 422, "validation", "Invalid input"

    def __init__(self, detail: str, errors: list[dict[str, object]] | None = None, **attrs: object) -> None:
        super().__init__(detail, **attrs)
        self.errors = errors or []


class NotFound(AosError):
    status, kind, title = 404, "not-found", "Not found"


class AgentNotFound(NotFound):
    def __init__(self, tenant: str, agent_id: str) -> None:
        super().__init__(f"agent '{agent_id}' does not exist in this tenant", agent_id=agent_id)
        self.tenant = tenant
        self.agent_id = agent_id


class Conflict(AosError):
    status, kind, title = 409, "conflict", "Conflict"


class AgentExists(Conflict):
    def __init__(self, agent_id: str) -> None:
        super().__init__(
            f"agent '{agent_id}' already exists; pick another id or DELETE it first", agent_id=agent_id
        )


class InvalidTransition(Conflict):
    kind, title = "invalid-transition", "Invalid lifecycle transition"

    def __init__(self, agent_id: str, state: str, action: str) -> None:
        super().__init__(f"cannot {action} agent '{agent_id}' while it is {state}", agent_id=agent_id, state=state)


class VersionConflict(Conflict):
    """An optimistic-concurrency write lost: someone else wrote first. Re-read and retry."""

    kind, title = "version-conflict", "Version conflict"


class IdempotencyMismatch(Conflict):
    kind, title = "idempotency-mismatch", "Idempotency key reused with a different request"


class Unauthorized(AosError):
    status, kind, title = 401, "unauthorized", "Unauthorized"


class Forbidden(AosError):
    status, kind, title = 403, "forbidden", "Forbidden"


class PayloadTooLarge(AosError):
    status, kind, title = 413, "payload-too-large", "Payload too large"


class NotConfigured(AosError):
    """A capability was asked for but its settings are missing. The message names the setting."""

    status, kind, title = 422, "not-configured", "Not configured"


class BrainError(AosError):
    """The agent's brain failed to decide (model endpoint down, callable raised, bad output)."""

    status, kind, title = 502, "brain-failed", "Brain failed"


class StorageError(AosError):
    """A storage adapter could not do its job; the cause is chained."""

    status, kind, title = 503, "storage-unavailable", "Storage unavailable"


class ShuttingDown(AosError):
    status, kind, title = 503, "shutting-down", "Shutting down"


class MalformedRequest(AosError):
    """The request could not be parsed at all (not JSON, wrong content type)."""

    status, kind, title = 400, "malformed-request", "Malformed request"


class PolicyDenied(Forbidden):
    """A policy rule (or the tenant's default) denied the action; `policy`, `rule` and the reason are named."""

    kind, title = "policy-denied", "Denied by policy"

    def __init__(self, action: str, policy: str, rule: str, reason: str) -> None:
        where = f"policy '{policy}' rule '{rule}'" if policy else "the tenant default"
        super().__init__(f"{action} denied by {where}: {reason}", action=action, policy=policy, rule=rule,
                         reason=reason)


class BudgetExceeded(AosError):
    """A budget of the agent or tenant is used up for the current period; it refills when the period turns."""

    status, kind, title = 429, "budget-exceeded", "Budget exceeded"
