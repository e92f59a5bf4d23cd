"""The policy engine and the kernel's governance (budgets, approvals, audit) built on it."""

from aos.kernel.policy.engine import Decided, PolicyInput, PolicySet
from aos.kernel.policy.governor import Governor
from aos.kernel.policy.step import StepGovernance, effect_action

__all__ = ["Decided", "Governor", "PolicyInput", "PolicySet", "StepGovernance", "effect_action"]
