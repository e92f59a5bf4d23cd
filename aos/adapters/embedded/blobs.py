"""BlobStore adapters: files under a directory, and a dict.

Names are ``/``-separated paths of segments; a segment is non-empty, has no ``\\`` or control characters
and does not start with ``.`` (that refuses ``..`` traversal, hidden files, and keeps our temp files out of
listings). A name cannot be both a blob and a folder of blobs (``a`` and ``a/b``): a file system cannot hold
both, so the memory adapter refuses it too, with `Conflict`.

Limitations (files): `content_type` is not kept (BlobRef has no field for it); `list` reads every listed blob
to compute its SHA-256; one process per directory. Limitations (memory): not durable, one process.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from aos.errors import Conflict, NotFound, StorageError, ValidationFailed
from aos.ports import BlobRef, BlobStore

_MAX_NAME = 1024
T = TypeVar("T")


def validate_name(name: str) -> str:
    """Return `name` if it is a safe relative blob name, else raise `ValidationFailed`."""
    if not name or len(name) > _MAX_NAME:
        raise ValidationFailed(f"blob name must be 1-{_MAX_NAME} characters", name=name[:64])
    for segment in name.split("/"):
        bad = (
            not segment
            or segment.startswith(".")
            or "\\" in segment
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in segment)
        )
        if bad:
            raise ValidationFailed(
                f"blob name '{name[:200]}' is not a safe relative path: use non-empty '/'-separated segments "
                "that do not start with '.' and hold no '\\' or control characters",
                name=name[:200],
            )
    return name


def _ref(name: str, data: bytes) -> BlobRef:
    return BlobRef(name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())


class MemoryBlobStore(BlobStore):
    """Blobs in a dict. Limitations: not durable, one process; holds every byte in memory."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    async def put(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> BlobRef:
        validate_name(name)
        parts = name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in self._blobs:
                raise Conflict(f"blob '{'/'.join(parts[:i])}' exists, so '{name}' cannot be stored under it")
        if any(other.startswith(name + "/") for other in self._blobs):
            raise Conflict(f"blobs exist under '{name}/': a name cannot be both a blob and a folder")
        self._blobs[name] = bytes(data)
        return _ref(name, data)

    async def get(self, name: str) -> bytes:
        validate_name(name)
        try:
            return self._blobs[name]
        except KeyError:
            raise NotFound(f"blob '{name}' does not exist", name=name) from None

    async def delete(self, name: str) -> bool:
        validate_name(name)
        return self._blobs.pop(name, None) is not None

    async def list(self, prefix: str = "") -> list[BlobRef]:
        return [_ref(n, d) for n, d in sorted(self._blobs.items()) if n.startswith(prefix)]


class FileBlobStore(BlobStore):
    """Blobs as files under `root`; file I/O runs in worker threads so the event loop never blocks.

    `put` is atomic and durable on return: write a temp file in the target folder, fsync it, `os.replace` it
    over the name, fsync the folder. A crash leaves the old blob or the new one, never a torn one.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    async def put(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> BlobRef:
        validate_name(name)
        payload = bytes(data)
        await self._io(self._put_sync, name, payload, what=f"write blob '{name}'")
        return _ref(name, payload)

    async def get(self, name: str) -> bytes:
        validate_name(name)
        data = await self._io(self._get_sync, name, what=f"read blob '{name}'")
        if data is None:
            raise NotFound(f"blob '{name}' does not exist", name=name)
        return data

    async def delete(self, name: str) -> bool:
        validate_name(name)
        return await self._io(self._delete_sync, name, what=f"delete blob '{name}'")

    async def list(self, prefix: str = "") -> list[BlobRef]:
        return await self._io(self._list_sync, prefix, what=f"list blobs under '{prefix}'")

    async def _io(self, fn: Callable[..., T], *args: Any, what: str) -> T:
        try:
            return await asyncio.to_thread(fn, *args)
        except (Conflict, NotFound):
            raise
        except OSError as e:
            raise StorageError(f"cannot {what} under {self.root}: {e}") from e

    # ------------------------------------------------------------ worker-thread side

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*name.split("/"))

    def _put_sync(self, name: str, data: bytes) -> None:
        path = self._path(name)
        self._check_shape(name, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    def _check_shape(self, name: str, path: Path) -> None:
        if path.is_dir():
            raise Conflict(f"blobs exist under '{name}/': a name cannot be both a blob and a folder")
        for parent in path.relative_to(self.root).parents:
            if parent != Path(".") and (self.root / parent).is_file():
                raise Conflict(f"blob '{parent.as_posix()}' exists, so '{name}' cannot be stored under it")

    def _get_sync(self, name: str) -> bytes | None:
        path = self._path(name)
        try:
            return path.read_bytes() if path.is_file() else None
        except FileNotFoundError:
            return None

    def _delete_sync(self, name: str) -> bool:
        path = self._path(name)
        if not path.is_file():
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        self._prune(path.parent)
        return True

    def _prune(self, folder: Path) -> None:
        """Remove folders left empty, so a deleted `a/b` frees the name `a`."""
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _list_sync(self, prefix: str) -> builtins.list[BlobRef]:
        start = self.root.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.root
        if not start.is_dir():
            return []
        refs = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for filename in filenames:
                if filename.startswith("."):
                    continue
                full = Path(dirpath) / filename
                name = full.relative_to(self.root).as_posix()
                if name.startswith(prefix):
                    refs.append(_ref(name, full.read_bytes()))
        return sorted(refs, key=lambda r: r.name)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
