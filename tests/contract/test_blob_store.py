"""Contract of `BlobStore`: overwrite, size and hash, NotFound, delete, sorted listing, safe names."""

from __future__ import annotations

import hashlib

import pytest

from aos.errors import Conflict, NotFound, ValidationFailed
from aos.ports import Stores

pytestmark = pytest.mark.anyio


async def test_put_returns_size_and_sha256_and_get_reads_it_back(stores: Stores) -> None:
    data = b"x" * 70_000
    ref = await stores.blobs.put("payloads/acme/e1.json", data, "application/json")
    assert (ref.name, ref.size, ref.sha256) == (
        "payloads/acme/e1.json",
        70_000,
        hashlib.sha256(data).hexdigest(),
    )
    assert await stores.blobs.get("payloads/acme/e1.json") == data


async def test_put_overwrites(stores: Stores) -> None:
    await stores.blobs.put("a/b", b"old")
    ref = await stores.blobs.put("a/b", b"new!")
    assert ref.size == 4
    assert await stores.blobs.get("a/b") == b"new!"


async def test_get_missing_raises_not_found(stores: Stores) -> None:
    with pytest.raises(NotFound):
        await stores.blobs.get("nope/never")


async def test_delete_reports_whether_it_existed_and_frees_the_folder(stores: Stores) -> None:
    await stores.blobs.put("a/b", b"1")
    assert await stores.blobs.delete("a/b") is True
    assert await stores.blobs.delete("a/b") is False
    with pytest.raises(NotFound):
        await stores.blobs.get("a/b")
    await stores.blobs.put("a", b"now a blob")  # nothing left under a/, so `a` is a free name


async def test_list_is_sorted_and_filtered_by_prefix(stores: Stores) -> None:
    for name in ["x/2", "x/10/a", "x/1", "y/1", "xy"]:
        await stores.blobs.put(name, name.encode())
    assert [r.name for r in await stores.blobs.list()] == ["x/1", "x/10/a", "x/2", "xy", "y/1"]
    assert [r.name for r in await stores.blobs.list("x/")] == ["x/1", "x/10/a", "x/2"]
    assert [r.name for r in await stores.blobs.list("x/1")] == ["x/1", "x/10/a"]
    assert [r.name for r in await stores.blobs.list("x")] == ["x/1", "x/10/a", "x/2", "xy"]
    assert await stores.blobs.list("zzz/") == []
    [ref] = await stores.blobs.list("y/")
    assert (ref.size, ref.sha256) == (3, hashlib.sha256(b"y/1").hexdigest())


@pytest.mark.parametrize(
    "name", ["", "../etc/passwd", "a/../../b", "/abs", "a//b", "a/", ".hidden", "a\\b", "a\x00b"]
)
async def test_unsafe_names_are_refused(stores: Stores, name: str) -> None:
    with pytest.raises(ValidationFailed):
        await stores.blobs.put(name, b"x")
    with pytest.raises(ValidationFailed):
        await stores.blobs.get(name)
    with pytest.raises(ValidationFailed):
        await stores.blobs.delete(name)


async def test_a_name_cannot_be_both_a_blob_and_a_folder(stores: Stores) -> None:
    await stores.blobs.put("a/b", b"1")
    with pytest.raises(Conflict):
        await stores.blobs.put("a", b"2")
    with pytest.raises(Conflict):
        await stores.blobs.put("a/b/c", b"3")
    assert await stores.blobs.get("a/b") == b"1"
