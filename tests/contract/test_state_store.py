"""Contract of `StateStore`: empty default, compare-and-set versions, delete."""

from __future__ import annotations

import pytest

from aos.errors import ValidationFailed, VersionConflict
from aos.ports import Stores

pytestmark = pytest.mark.anyio

KEY = "acme/alpha"


async def test_never_written_state_is_empty_at_version_zero(stores: Stores) -> None:
    assert await stores.state.get(KEY) == ({}, 0)


async def test_put_is_compare_and_set(stores: Stores) -> None:
    assert await stores.state.put(KEY, {"n": 1, "nested": {"a": [1, 2]}}, 0) == 1
    assert await stores.state.put(KEY, {"n": 2}, 1) == 2
    assert await stores.state.get(KEY) == ({"n": 2}, 2)
    with pytest.raises(VersionConflict):
        await stores.state.put(KEY, {"n": 3}, 1)
    with pytest.raises(VersionConflict):
        await stores.state.put(KEY, {"n": 3}, 0)
    with pytest.raises(VersionConflict):
        await stores.state.put("acme/other", {"n": 3}, 5)
    assert await stores.state.get(KEY) == ({"n": 2}, 2)


async def test_values_are_copied(stores: Stores) -> None:
    value = {"items": [1]}
    await stores.state.put(KEY, value, 0)
    value["items"].append(2)
    got, _ = await stores.state.get(KEY)
    got["items"].append(3)
    assert await stores.state.get(KEY) == ({"items": [1]}, 1)


async def test_non_json_state_is_refused_and_nothing_is_written(stores: Stores) -> None:
    with pytest.raises(ValidationFailed):
        await stores.state.put(KEY, {"when": object()}, 0)
    assert await stores.state.get(KEY) == ({}, 0)


async def test_delete_reports_whether_there_was_state(stores: Stores) -> None:
    assert await stores.state.delete(KEY) is False
    await stores.state.put(KEY, {"n": 1}, 0)
    assert await stores.state.delete(KEY) is True
    assert await stores.state.get(KEY) == ({}, 0)
    assert await stores.state.put(KEY, {"n": 1}, 0) == 1
