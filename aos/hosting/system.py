"""One AOS system per Functions worker process, opened on first use and reused by every invocation.

Opened with `run=False`: the Functions host has no embedded workers, cron loop or sweep; triggers and the
durable orchestration do that work. The kernel's notifier is swapped for `HostedNotifier`, which hands
notifications to the current invocation's durable client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aos.config import Config
from aos.hosting.intents import HostedNotifier
from aos.runtime import System

log = logging.getLogger("aos.hosting")

_state: dict[str, Any] = {}


async def hosted_system() -> System:
    system: System | None = _state.get("system")
    if system is not None:
        return system
    lock = _state.setdefault("lock", asyncio.Lock())
    async with lock:
        if "system" not in _state:
            config = Config.load()
            logging.getLogger("aos").setLevel(config.log_level)
            ctx = System.open(config, run=False)
            opened = await ctx.__aenter__()
            opened.kernel.notifier = HostedNotifier()
            if opened.generated_admin_key:
                log.warning("no AOS_ADMIN_KEY was set: a bootstrap admin key was generated and stored hashed; "
                            "set AOS_ADMIN_KEY (a Key Vault reference) to call the API")
            _state["context"], _state["system"] = ctx, opened
    return _state["system"]  # type: ignore[no-any-return]


async def close_system() -> None:
    """Close the process's system (tests, and a worker that wants to reload its configuration)."""
    ctx = _state.pop("context", None)
    _state.clear()
    if ctx is not None:
        await ctx.__aexit__(None, None, None)
