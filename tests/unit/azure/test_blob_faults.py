"""The Blob BlobStore over a fault-injecting BlobApi: hash checks, SDK errors wrapped with context."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from azure.core.exceptions import ResourceNotFoundError, ServiceResponseError

from aos.adapters.azure.blob import AzureBlobStore, BlobApi, BlobItem
from aos.errors import NotFound, StorageError

pytestmark = pytest.mark.anyio


class FakeBlobApi(BlobApi):
    def __init__(self) -> None:
        self.blobs: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.fail: Exception | None = None

    async def ensure_container(self) -> None:
        return None

    async def upload(self, name: str, data: bytes, content_type: str, metadata: dict[str, str]) -> None:
        if self.fail:
            raise self.fail
        self.blobs[name] = (data, metadata)

    async def download(self, name: str) -> tuple[bytes, dict[str, str]]:
        if name not in self.blobs:
            raise ResourceNotFoundError(message="BlobNotFound")
        return self.blobs[name]

    async def delete(self, name: str) -> None:
        if self.blobs.pop(name, None) is None:
            raise ResourceNotFoundError(message="BlobNotFound")

    async def exists(self, name: str) -> bool:
        return name in self.blobs

    async def list(self, prefix: str, page_size: int) -> AsyncIterator[BlobItem]:
        for name in sorted(self.blobs):
            if name.startswith(prefix):
                yield BlobItem(name, len(self.blobs[name][0]), self.blobs[name][1])

    async def close(self) -> None:
        return None


async def test_a_blob_changed_outside_aos_fails_its_hash_check() -> None:
    api = FakeBlobApi()
    store = AzureBlobStore(api)
    await store.put("a/b", b"original")
    api.blobs["a/b"] = (b"tampered", api.blobs["a/b"][1])
    with pytest.raises(StorageError, match="SHA-256"):
        await store.get("a/b")


async def test_a_blob_without_hash_metadata_is_hashed_when_listed() -> None:
    api = FakeBlobApi()
    api.blobs["x"] = (b"abc", {})
    [ref] = await AzureBlobStore(api).list()
    assert ref.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


async def test_service_errors_are_storage_errors_naming_container_and_blob() -> None:
    api = FakeBlobApi()
    api.fail = ServiceResponseError(message="connection reset")
    with pytest.raises(StorageError, match=r"container=aos-payloads, name=a/b") as info:
        await AzureBlobStore(api).put("a/b", b"1")
    assert isinstance(info.value.__cause__, ServiceResponseError)
    with pytest.raises(NotFound):
        await AzureBlobStore(api).get("a/b")
