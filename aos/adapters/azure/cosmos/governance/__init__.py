"""Cosmos DB adapters of the governance ports: audit chain (`audit`), policies (`agents`), usage counters and
approvals (`runtime`). Where each item lives and why: `aos.adapters.azure.cosmos.keys`."""

from aos.adapters.azure.cosmos.governance.approvals import CosmosApprovalStore
from aos.adapters.azure.cosmos.governance.audit import CosmosAuditLog
from aos.adapters.azure.cosmos.governance.policies import CosmosPolicyStore
from aos.adapters.azure.cosmos.governance.usage import CosmosUsageCounter
from aos.adapters.azure.cosmos.ops import Cosmos
from aos.ports import Governance


def cosmos_governance(cosmos: Cosmos) -> Governance:
    return Governance(CosmosAuditLog(cosmos), CosmosPolicyStore(cosmos), CosmosUsageCounter(cosmos),
                      CosmosApprovalStore(cosmos))


__all__ = ["CosmosApprovalStore", "CosmosAuditLog", "CosmosPolicyStore", "CosmosUsageCounter",
           "cosmos_governance"]
