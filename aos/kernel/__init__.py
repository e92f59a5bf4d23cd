"""The kernel: lifecycle, routing, scheduling, steps and auth, over the ports. Imports no adapter or host."""

from aos.kernel.auth import Caller, KeyService
from aos.kernel.kernel import Kernel, KernelOptions, Published, StepOutcome, split_key
from aos.kernel.notify import NoNotifier, Notifier

__all__ = [
    "Caller",
    "Kernel",
    "KernelOptions",
    "KeyService",
    "NoNotifier",
    "Notifier",
    "Published",
    "StepOutcome",
    "split_key",
]
