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


async def hosted_system(*, watch: bool = True) -> System:
    """The process's system, opened on first use. `watch`: from now on, report what holds the worker's event loop
    (`AOS_LOOP_LAG_WARN_MS`); it runs every invocation of the process. The HTTP handler passes False and starts
    the watch once it has built the API as well: opening the system and building the app is booting, which
    would only be reported as noise."""
    system: System | None = _state.get("system")
    if system is None:
        system = await _open()
    if watch:
        system.runtime.watch_loop()  # idempotent
    return system


async def _open() -> System:
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
