"""Registration checks for the secret references in a brain's settings (`@keyvault:NAME`).

Decision: registration refuses (422) what will certainly fail later and accepts what may be transient.
- A malformed reference is a `ValidationFailed` naming its path: it can never resolve.
- A secret that does not exist, or that the app's identity may not read, is a `NotConfigured` naming the path
  and what to do: better a 422 now than a failed step at 3 a.m.
- A store that is unreachable, slow (more than `VERIFY_TIMEOUT_S`) or failing is logged (reference names only)
  and registration goes ahead: a Key Vault outage must not block registering agents; the step that needs the
  secret fails and retries like any other transient failure.
A successful check also warms the resolver's cache for the first step.
"""

from __future__ import annotations

import asyncio
import logging

from aos.errors import NotConfigured, StorageError, ValidationFailed
from aos.model import AgentSpec
from aos.secrets import SecretResolver, parse_reference, references

log = logging.getLogger("aos.brains")
VERIFY_TIMEOUT_S = 5.0


def check_references(spec: AgentSpec) -> None:
    for path, ref in references(spec.brain.settings, "brain.settings"):
        try:
            parse_reference(ref)
        except NotConfigured as e:
            raise ValidationFailed(f"{path}: {e.detail}", field=path) from None


async def verify_references(spec: AgentSpec, resolver: SecretResolver, timeout_s: float = VERIFY_TIMEOUT_S
                            ) -> None:
    found = list(references(spec.brain.settings, "brain.settings"))
    if not found:
        return
    try:
        async with asyncio.timeout(timeout_s):
            for path, ref in found:
                try:
                    await resolver.resolve(ref)
                except NotConfigured as e:
                    raise NotConfigured(f"{path} ({ref}): {e.detail}", field=path,
                                        **{k: v for k, v in e.attrs.items() if k != "field"}) from None
    except (StorageError, TimeoutError) as e:
        reason = f"no answer within {timeout_s:.0f}s" if isinstance(e, TimeoutError) else type(e).__name__
        log.warning("agent %s registered without verifying its secret references %s: %s unavailable (%s); "
                    "its steps resolve them at use", spec.id, [r for _, r in found], resolver.source, reason)
