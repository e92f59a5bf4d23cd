"""BlobStore on Azure Blob Storage (`azure.storage.blob.aio`), container `aos-payloads`.

Two layers (STYLE.md): `BlobApi` is the thin interface over the five SDK calls used (upload, download, delete,
exists, list) and raises the SDK's own exceptions; `AzureBlobStore` implements the port on it, so a test can put
a fault-injecting `BlobApi` fake under the real port logic.

Decisions:
- The SHA-256 of the content is stored as blob metadata (`sha256`) at upload and verified on every read; a
  mismatch is a `StorageError` (corruption or an out-of-band overwrite), never silently returned bytes.
- Names are validated like the embedded stores (same rules, same errors). Blob Storage itself would allow `a`
  and `a/b` side by side; the port forbids it (a file system cannot hold both), so `put` checks the parents
  and the folder first. Limitation: that check is not atomic with the upload (two writers racing on `a` and
  `a/b` can both succeed); AOS never writes such pairs itself.
- `list` pages through the service (`results_per_page`, continuation tokens) and reads sizes and hashes from
  the listing's metadata, without downloading; a blob written by another tool without `sha256` metadata is
  downloaded once to hash it.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError

from aos.adapters.azure import names
from aos.adapters.embedded.blobs import validate_name
from aos.errors import Conflict, NotFound, StorageError
from aos.ports import BlobRef, BlobStore

SHA256_META = "sha256"
PAGE_SIZE = 1000


@dataclass(frozen=True)
class BlobItem:
    name: str
    size: int
    metadata: dict[str, str]


class BlobApi(abc.ABC):
    """The SDK calls the BlobStore needs, on one container. Raises azure.core exceptions unchanged."""

    @abc.abstractmethod
    async def ensure_container(self) -> None: ...

    @abc.abstractmethod
    async def upload(self, name: str, data: bytes, content_type: str, metadata: dict[str, str]) -> None: ...

    @abc.abstractmethod
    async def download(self, name: str) -> tuple[bytes, dict[str, str]]: ...

    @abc.abstractmethod
    async def delete(self, name: str) -> None: ...

    @abc.abstractmethod
    async def exists(self, name: str) -> bool: ...

    @abc.abstractmethod
    def list(self, prefix: str, page_size: int) -> AsyncGenerator[BlobItem, None]: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class SdkBlobApi(BlobApi):
    """`BlobApi` on an `azure.storage.blob.aio.ContainerClient` (which it owns and closes)."""

    def __init__(self, container: Any) -> None:
        self._container = container

    async def ensure_container(self) -> None:
        try:
            await self._container.create_container()
        except ResourceExistsError:
            pass

    async def upload(self, name: str, data: bytes, content_type: str, metadata: dict[str, str]) -> None:
        from azure.storage.blob import ContentSettings

        await self._container.upload_blob(name, data, overwrite=True, metadata=metadata,
                                          content_settings=ContentSettings(content_type=content_type))

    async def download(self, name: str) -> tuple[bytes, dict[str, str]]:
        stream = await self._container.download_blob(name)
        data = await stream.readall()
        return bytes(data), dict(stream.properties.metadata or {})

    async def delete(self, name: str) -> None:
        await self._container.delete_blob(name)

    async def exists(self, name: str) -> bool:
        return bool(await self._container.get_blob_client(name).exists())

    async def list(self, prefix: str, page_size: int) -> AsyncGenerator[BlobItem, None]:
        pages = self._container.list_blobs(name_starts_with=prefix or None, include=["metadata"],
                                           results_per_page=page_size).by_page()
        async for page in pages:
            async for props in page:
                yield BlobItem(props.name, int(props.size), dict(props.metadata or {}))

    async def close(self) -> None:
        await self._container.close()


class AzureBlobStore(BlobStore):
    def __init__(self, api: BlobApi, *, container: str = names.BLOB_CONTAINER_PAYLOADS) -> None:
        self.api = api
        self.container = container

    async def put(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> BlobRef:
        validate_name(name)
        payload = bytes(data)
        digest = hashlib.sha256(payload).hexdigest()
        try:
            await self._check_shape(name)
            await self.api.upload(name, payload, content_type, {SHA256_META: digest})
        except AzureError as e:
            raise StorageError(f"blob upload failed [container={self.container}, name={name}]: {e}") from e
        return BlobRef(name=name, size=len(payload), sha256=digest)

    async def _check_shape(self, name: str) -> None:
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if await self.api.exists(parent):
                raise Conflict(f"blob '{parent}' exists, so '{name}' cannot be stored under it", name=name)
        async with aclosing(self.api.list(name + "/", 1)) as below:
            async for _ in below:
                raise Conflict(f"blobs exist under '{name}/': a name cannot be both a blob and a folder",
                               name=name)

    async def get(self, name: str) -> bytes:
        validate_name(name)
        try:
            data, metadata = await self.api.download(name)
        except ResourceNotFoundError:
            raise NotFound(f"blob '{name}' does not exist", name=name) from None
        except AzureError as e:
            raise StorageError(f"blob download failed [container={self.container}, name={name}]: {e}") from e
        expected = metadata.get(SHA256_META)
        actual = hashlib.sha256(data).hexdigest()
        if expected is not None and expected != actual:
            raise StorageError(f"blob '{name}' failed its SHA-256 check (stored {expected[:12]}…, read "
                               f"{actual[:12]}…): it was corrupted or overwritten outside AOS", name=name)
        return data

    async def delete(self, name: str) -> bool:
        validate_name(name)
        try:
            await self.api.delete(name)
        except ResourceNotFoundError:
            return False
        except AzureError as e:
            raise StorageError(f"blob delete failed [container={self.container}, name={name}]: {e}") from e
        return True

    async def list(self, prefix: str = "") -> list[BlobRef]:
        refs: list[BlobRef] = []
        try:
            async for item in self.api.list(prefix, PAGE_SIZE):
                digest = item.metadata.get(SHA256_META)
                if digest is None:
                    data, _ = await self.api.download(item.name)
                    digest = hashlib.sha256(data).hexdigest()
                refs.append(BlobRef(name=item.name, size=item.size, sha256=digest))
        except AzureError as e:
            raise StorageError(f"blob list failed [container={self.container}, prefix={prefix}]: {e}") from e
        return sorted(refs, key=lambda r: r.name)

    async def close(self) -> None:
        await self.api.close()


async def open_blob_store(target: Any, *, credential: Any = None,
                          container: str = names.BLOB_CONTAINER_PAYLOADS) -> AzureBlobStore:
    """An `AzureBlobStore` on `target` (a `StorageTarget`), with the container created if missing."""
    from azure.storage.blob.aio import ContainerClient

    from aos.adapters.azure.credentials import STORAGE_API_VERSION

    if target.connection_string:
        client = ContainerClient.from_connection_string(target.connection_string, container,
                                                        api_version=STORAGE_API_VERSION)
    else:
        client = ContainerClient(target.endpoint("blob"), container, credential=credential,
                                 api_version=STORAGE_API_VERSION)
    store = AzureBlobStore(SdkBlobApi(client), container=container)
    try:
        await store.api.ensure_container()
    except AzureError as e:
        await store.close()
        raise StorageError(f"cannot reach Blob Storage container '{container}': {e}") from e
    return store
