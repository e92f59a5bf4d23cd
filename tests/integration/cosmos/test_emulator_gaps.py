"""Where @vercel/cosmosdb-server differs from real Cosmos DB, shown by tests that real Cosmos would pass.

Each test drives the SDK seam in *real-Cosmos mode* (`emulator=False`: no compatibility switch) against the
emulator, so it states what real Cosmos does. They are marked `emulator_gap(...)` (strict xfail on the emulator):
the day the emulator closes a gap, its test passes, the strict xfail fails, and the switch in
`aos.adapters.azure.cosmos.client` can go. The contract suites run the adapters with `emulator=True`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aos.adapters.azure.cosmos import Cosmos, CosmosAgentRegistry, CosmosMailbox, SdkCosmosApi
from aos.adapters.embedded import ManualClock
from aos.errors import AgentNotFound
from aos.model import Event
from tests.emulators.cosmos import drop_database, open_test_cosmos

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


class _GapOff(SdkCosmosApi):
    """The SDK seam in emulator mode except for the one behaviour under test, which is real Cosmos's."""

    real: str = ""

    @property
    def supports_batch(self) -> bool:
        return self.real == "batch"

    @property
    def supports_distinct(self) -> bool:
        return self.real == "distinct"


async def _real(endpoint: str, behaviour: str) -> Cosmos:
    opened = await open_test_cosmos(endpoint)
    api = opened.api
    assert isinstance(api, SdkCosmosApi)
    api.__class__ = _GapOff
    assert isinstance(api, _GapOff)
    api.real = behaviour
    api.emulator = behaviour != "read"
    return opened


@pytest.fixture
async def real_mode(request: pytest.FixtureRequest, cosmos_endpoint: str) -> AsyncIterator[Cosmos]:
    """A Cosmos on the emulator with the compatibility switch off for one behaviour (`real_behaviour` mark)."""
    opened = await _real(cosmos_endpoint, request.node.get_closest_marker("real_behaviour").args[0])
    try:
        yield opened
    finally:
        await drop_database(opened)
        await opened.close()


@pytest.mark.emulator_gap("a point read of a missing item answers 500, not 404")
@pytest.mark.real_behaviour("read")
async def test_point_read_of_a_missing_item_is_not_found(real_mode: Cosmos) -> None:
    with pytest.raises(AgentNotFound):
        await CosmosAgentRegistry(real_mode).get("acme", "nobody")


@pytest.mark.emulator_gap("no usable transactional batch (patch refused in a batch, partition key header not parsed)")
@pytest.mark.real_behaviour("batch")
async def test_finishing_a_step_commits_items_and_step_in_one_batch(real_mode: Cosmos) -> None:
    mailbox = CosmosMailbox(real_mode, ManualClock())
    await mailbox.deliver("acme", Event(id="e1", source="/t", type="x"), ["acme/alpha"])
    claim = await mailbox.begin_step("acme/alpha", "alpha", 10)
    assert claim is not None
    await mailbox.complete_step("acme/alpha", claim.seq)
    assert await mailbox.pending("acme/alpha") == 0


@pytest.mark.emulator_gap("SELECT DISTINCT does not parse")
@pytest.mark.real_behaviour("distinct")
async def test_keys_with_work_uses_select_distinct(real_mode: Cosmos) -> None:
    mailbox = CosmosMailbox(real_mode, ManualClock())
    await mailbox.deliver("acme", Event(id="e1", source="/t", type="x"), ["acme/alpha", "acme/beta"])
    assert await mailbox.keys_with_work() == ["acme/alpha", "acme/beta"]


@pytest.mark.emulator_gap("partition_key= is ignored in queries (the adapters always filter c.<pk> = @pk)")
@pytest.mark.real_behaviour("query")
async def test_query_scoped_by_partition_key_alone(real_mode: Cosmos) -> None:
    for key in ("acme/alpha", "acme/beta"):
        await real_mode.create("runtime", {"id": "x", "agentKey": key, "kind": "probe"})
    rows = await real_mode.query("runtime", "SELECT VALUE c.id FROM c", {}, "acme/alpha")
    assert len(rows) == 1


async def test_compatibility_mode_answers_like_real_cosmos(cosmos: Cosmos) -> None:
    """The same operations through the switch: what the contract suites rely on."""
    with pytest.raises(AgentNotFound):
        await CosmosAgentRegistry(cosmos).get("acme", "nobody")
    mailbox = CosmosMailbox(cosmos, ManualClock())
    await mailbox.deliver("acme", Event(id="e1", source="/t", type="x"), ["acme/alpha", "acme/beta"])
    assert await mailbox.keys_with_work() == ["acme/alpha", "acme/beta"]
    claim = await mailbox.begin_step("acme/alpha", "alpha", 10)
    assert claim is not None
    await mailbox.complete_step("acme/alpha", claim.seq)
    assert await mailbox.keys_with_work() == ["acme/beta"]
