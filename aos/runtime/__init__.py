"""The embedded host: `System` assembles AOS from configuration; `EmbeddedRuntime` runs its agents."""

from aos.runtime.host import EmbeddedRuntime, ReadyQueue, settle_heap
from aos.runtime.system import System, open_stores

__all__ = ["EmbeddedRuntime", "ReadyQueue", "System", "open_stores", "settle_heap"]
