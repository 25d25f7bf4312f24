"""Reading and writing URIs: local paths directly, everything else through fsspec.

``import fsspec`` costs more than the rest of a cold run, so local paths and
``file://`` URIs never touch it. Writes are atomic: a reader sees the old file
or the whole new one, never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from .errors import StorageError


def local_path(uri: str) -> str | None:
    """The local path a URI denotes, or None when it needs a remote filesystem."""
    if uri.startswith("file://"):
        return uri[len("file://"):] or "/"
    if "://" in uri:
        return None
    return uri


def join(prefix: str, name: str) -> str:
    """``prefix/name`` for URIs and local paths alike."""
    return prefix.rstrip("/") + "/" + name if prefix else name


def _filesystem(uri: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec is a dependency
        raise StorageError(uri, "open", f"fsspec is not installed ({exc})") from None
    try:
        fs, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        protocol = uri.split("://", 1)[0]
        raise StorageError(
            uri, "open",
            f"{exc} (the {protocol!r} protocol needs its fsspec implementation installed, "
            f"e.g. 'pip install s3fs' for s3://)",
        ) from None
    return fs, path


def read_bytes(uri: str) -> bytes:
    """The whole content at ``uri``."""
    path = local_path(uri)
    try:
        if path is not None:
            with open(path, "rb") as fh:
                return fh.read()
        fs, remote = _filesystem(uri)
        data: bytes = fs.cat_file(remote)
        return data
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(uri, "read", exc) from exc


def write_bytes(uri: str, data: bytes) -> None:
    """Write ``data`` at ``uri`` atomically (temp file + rename locally; one put remotely)."""
    path = local_path(uri)
    try:
        if path is not None:
            write_local_atomic(path, data)
            return
        fs, remote = _filesystem(uri)
        parent = remote.rsplit("/", 1)[0]
        if parent and parent != remote:
            fs.makedirs(parent, exist_ok=True)
        fs.pipe_file(remote, data)
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(uri, "write", exc) from exc


def write_local_atomic(path: str, data: bytes, *, mode: int = 0o666,
                       dir_mode: int = 0o777) -> None:
    """Write a local file atomically; raises OSError.

    A unique temporary name beside the target, then one rename: readers see the
    old file or the whole new one. (tempfile.mkstemp would do; importing it costs
    ~7 ms.)
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=dir_mode, exist_ok=True)
    tmp = os.path.join(directory, f".shimtask-{os.getpid()}-{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def put_file(local: str, uri: str) -> None:
    """Copy the local file ``local`` to ``uri`` (a copy locally, one put remotely)."""
    target = local_path(uri)
    try:
        if target is not None:
            import shutil  # only when a local file is copied

            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            shutil.copyfile(local, target)
            return
        fs, remote = _filesystem(uri)
        fs.put_file(local, remote)
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(uri, "upload", exc) from exc


def exists(uri: str) -> bool:
    path = local_path(uri)
    if path is not None:
        return os.path.exists(path)
    fs, remote = _filesystem(uri)
    return bool(fs.exists(remote))


def remove(uri: str) -> None:
    """Remove a stale file if present (an earlier attempt's outputs or error)."""
    path = local_path(uri)
    try:
        if path is not None:
            if os.path.exists(path):
                os.unlink(path)
            return
        fs, remote = _filesystem(uri)
        if fs.exists(remote):
            fs.rm_file(remote)
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(uri, "remove", exc) from exc
