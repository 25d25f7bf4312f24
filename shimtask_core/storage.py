"""Reading and writing URIs: local paths directly, everything else through fsspec.

The one entry point for files, datasets and plugins: :func:`local_path` decides
what is local, and ``read_bytes``/``write_bytes``, :func:`open_uri`, :func:`get`
and :func:`put` (directories with ``recursive=True``) act on either kind.
``import fsspec`` costs more than the rest of a cold run, so local paths and
``file://`` URIs never touch it. Writes are atomic: a reader sees the old file
or the whole new one, never a half-written one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import typing
from typing import IO, TYPE_CHECKING, Any

from .errors import MissingDependency, ShimTaskError, StorageError, UnsafePath

if TYPE_CHECKING:
    from collections.abc import Mapping


def local_path(uri: str) -> str | None:
    """The local path a URI denotes, or None when it needs a remote filesystem.

    ``file:`` URIs follow RFC 8089: ``file:///p``, ``file:/p`` and
    ``file://localhost/p`` are the absolute path ``/p``, percent-decoded
    (``file:///tmp/a%20b`` is ``/tmp/a b``). ``file://name/p`` with any other
    host is the relative path ``name/p``, as fsspec (and so flytekit) reads it.
    Anything without ``://`` is a path already, and is never decoded.
    """
    if uri[:5].lower() == "file:":
        rest = uri[5:]
        if rest.startswith("//"):
            rest = rest[2:]
            if rest[:10].lower() == "localhost/" or rest.lower() == "localhost":
                rest = rest[9:]
        if "%" in rest:
            from urllib.parse import unquote  # only for URIs that need decoding

            rest = unquote(rest)
        return rest or "/"
    if "://" in uri:
        return None
    return uri


def missing(path: str) -> str:
    """How an error says a local path names nothing: a relative one with the working
    directory it was looked up in (a template or input written for another one)."""
    if os.path.isabs(path):
        return "which does not exist"
    return f"which does not exist (relative to the working directory {os.getcwd()})"


def join(prefix: str, name: str) -> str:
    """``prefix/name`` for URIs and local paths alike."""
    return prefix.rstrip("/") + "/" + name if prefix else name


def absolute(uri: str) -> str:
    """``uri`` with a local path made absolute (``rawrel`` -> ``/work/rawrel``; ``file:`` URIs
    become the path): URIs written into literals are read from other directories and
    other machines. Remote URIs are returned unchanged."""
    path = local_path(uri)
    return uri if path is None else os.path.abspath(path)


# fsspec protocol -> (the package implementing it, the shimtask-core extra installing it)
_IMPLEMENTATIONS = {
    "s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
    "abfs": ("adlfs", None), "abfss": ("adlfs", None), "az": ("adlfs", None),
}


def storage_options(protocol: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """fsspec options for ``protocol`` from the environment a Flyte pod receives.

    For S3, flytekit's ``FLYTE_AWS_ENDPOINT``, ``FLYTE_AWS_ACCESS_KEY_ID`` and
    ``FLYTE_AWS_SECRET_ACCESS_KEY`` (what Flyte's sandbox and many clusters set)
    win over the standard ``AWS_*`` variables, which botocore reads by itself
    (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` are passed explicitly, for
    botocore releases that predate them). Other protocols take their own
    standard configuration (``GOOGLE_APPLICATION_CREDENTIALS``, ...).
    """
    env = os.environ if environ is None else environ
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        key, secret = env.get("FLYTE_AWS_ACCESS_KEY_ID"), env.get("FLYTE_AWS_SECRET_ACCESS_KEY")
        if key and secret:
            options["key"], options["secret"] = key, secret
        endpoint = (env.get("FLYTE_AWS_ENDPOINT") or env.get("AWS_ENDPOINT_URL_S3")
                    or env.get("AWS_ENDPOINT_URL"))
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
        style = env.get("FLYTE_AWS_ADDRESSING_STYLE")
        if style:
            options["config_kwargs"] = {"s3": {"addressing_style": style}}
    return options


@functools.cache
def configure_fsspec() -> None:
    """Give fsspec the options :func:`storage_options` finds, for every fsspec user.

    They go into fsspec's own configuration (``fsspec.config.conf``, what
    ``FSSPEC_S3_*`` variables set), under anything already configured there, so
    plugins that open URIs with fsspec or pyarrow directly get the pod's S3
    settings too. Runs once per process, when fsspec is first needed.
    """
    from fsspec.config import conf

    for protocol in ("s3",):
        options = storage_options(protocol)
        if options:
            conf[protocol] = {**options, **conf.get(protocol, {})}


def filesystem(uri: str) -> tuple[Any, str]:
    """The fsspec filesystem of a remote URI and the path within it.

    For callers that hand fsspec to a library (``pyarrow.parquet.read_table``);
    ask :func:`local_path` first, as a local path needs no fsspec.
    """
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec is a dependency
        raise StorageError(uri, "open", f"fsspec is not installed ({exc})") from None
    configure_fsspec()
    protocol = uri.split("://", 1)[0].lower()
    try:
        fs, path = fsspec.core.url_to_fs(uri)
    except ImportError:
        package, extra = _IMPLEMENTATIONS.get(protocol, (None, None))
        if package is None:
            raise StorageError(uri, "open", f"the {protocol}:// protocol needs its fsspec "
                               f"implementation installed") from None
        raise MissingDependency(package, purpose=f"{uri}: the {protocol}:// protocol",
                                extra=extra) from None
    except ValueError as exc:
        raise StorageError(uri, "open", f"{exc} (no fsspec implementation of "
                           f"{protocol}:// is known)") from None
    if getattr(fs, "async_impl", False):
        _quiet_orphaned_tasks(fs.loop)
    return fs, path


def _quiet_orphaned_tasks(loop: Any) -> None:
    """Keep asyncio from printing a traceback for a background task of fsspec's event loop
    that failed with nobody awaiting it (aiohttp writing a request body when S3 drops the
    connection): the call that was awaited failed too and is reported, once, as a
    StorageError. The orphan goes to the phase log instead. A handler set by someone
    else is left alone."""
    if loop.get_exception_handler() is None:
        loop.set_exception_handler(_orphaned_task_failed)


def _orphaned_task_failed(loop: Any, context: dict[str, Any]) -> None:
    from . import logs  # only when it happens: listing plugins needs storage, not logs

    exc = context.get("exception")
    logs.phase("storage-background-error", message=context.get("message"),
               error=None if exc is None else f"{type(exc).__name__}: {exc}")


def read_bytes(uri: str, *, limit: int | None = None) -> bytes:
    """The whole content at ``uri``; with ``limit``, at most ``limit + 1`` bytes of it (the
    caller tells a file that is too long by its length, without holding all of it)."""
    path = local_path(uri)
    try:
        if path is not None:
            with open(path, "rb") as fh:
                return fh.read() if limit is None else fh.read(limit + 1)
        fs, remote = filesystem(uri)
        data: bytes = (fs.cat_file(remote) if limit is None
                       else fs.cat_file(remote, start=0, end=limit + 1))
        return data
    except ShimTaskError:  # StorageError, MissingDependency
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
        fs, remote = filesystem(uri)
        parent = remote.rsplit("/", 1)[0]
        if parent and parent != remote:
            fs.makedirs(parent, exist_ok=True)
        try:
            fs.pipe_file(remote, data)
        except Exception:
            # An object store's put is all or nothing, but a filesystem behind fsspec (a
            # full disk, a mount) may keep what it got: a half outputs.pb is worse than none.
            with contextlib.suppress(Exception):
                fs.rm_file(remote)
            raise
    except ShimTaskError:  # StorageError, MissingDependency
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


def open_uri(uri: str, mode: str = "rb") -> IO[Any]:
    """Open ``uri``: ``open()`` for a local path, fsspec's ``open`` otherwise.

    Opening to write creates missing parent directories. A failure to open is a
    StorageError (its ``cause`` the original exception) or a MissingDependency;
    errors while reading or writing are the file object's own.
    """
    path = local_path(uri)
    try:
        if path is not None:
            if any(c in mode for c in "wax"):
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            return open(path, mode)
        fs, remote = filesystem(uri)
        return typing.cast("IO[Any]", fs.open(remote, mode))
    except ShimTaskError:  # StorageError, MissingDependency
        raise
    except Exception as exc:
        raise StorageError(uri, "open", exc) from exc


def get(uri: str, local: str, *, recursive: bool = False) -> None:
    """Copy the file at ``uri`` to the local path ``local``; ``recursive``: a directory.

    A directory's files land in ``local`` itself (fsspec's recursive ``get``), which
    exists afterwards even when there are none: object stores have no empty
    directories, so an empty one is a prefix with no objects.
    """
    source = local_path(uri)
    try:
        if recursive and source is not None:
            _refuse_links_out(source, "download")
        os.makedirs(local if recursive else os.path.dirname(os.path.abspath(local)),
                    exist_ok=True)
        if source is not None:
            import shutil  # only when a local file is copied

            if recursive:
                shutil.copytree(source, local, dirs_exist_ok=True)
            else:
                shutil.copyfile(source, local)
            return
        fs, remote = filesystem(uri)
        if not recursive:
            fs.get_file(remote, local)
            return
        root = remote.rstrip("/") + "/"
        _refuse_names_out(uri, root, fs.find(root))
        try:  # trailing separators: the content goes into local, not a subdirectory
            fs.get(root, os.path.join(local, ""), recursive=True)
        except FileNotFoundError:
            if fs.exists(remote):
                raise
    except ShimTaskError:  # StorageError, MissingDependency
        raise
    except Exception as exc:
        raise StorageError(uri, "download", exc) from exc


def put(local: str, uri: str, *, recursive: bool = False) -> None:
    """Copy the local file ``local`` to ``uri``; ``recursive``: a directory's files.

    Locally a copy (``uri`` must not be inside the directory being copied);
    remotely one ``put_file``, or fsspec's recursive ``put`` for a directory.
    """
    target = local_path(uri)
    try:
        if recursive:
            _refuse_links_out(local, "upload")
        if target is not None:
            import shutil  # only when a local file is copied

            if not recursive:
                os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
                shutil.copyfile(local, target)
                return
            source = os.path.abspath(local)
            if os.path.commonpath([source, os.path.abspath(target)]) == source:
                raise StorageError(uri, "upload", f"the target is inside the directory "
                                                  f"{local!r} being uploaded")
            shutil.copytree(local, target)
            return
        fs, remote = filesystem(uri)
        if recursive:  # trailing separators: the content goes into uri itself
            fs.put(os.path.join(local, ""), remote.rstrip("/") + "/", recursive=True)
        else:
            fs.put_file(local, remote)
    except ShimTaskError:  # StorageError, MissingDependency
        raise
    except Exception as exc:
        raise StorageError(uri, "upload", exc) from exc


def _refuse_links_out(root: str, action: str) -> None:
    """A local directory is copied as the regular files inside it: a symlink that leads
    out of it (``/etc/passwd``, ``../outside``), to a directory (a cycle, or a second copy
    of a subtree) or to nothing is :class:`UnsafePath`, before anything is copied, rather
    than followed (``shutil.copytree`` and fsspec's ``put`` would copy what it points to).
    A symlink to a regular file inside the tree is copied as that file's content."""
    real_root = os.path.realpath(root)
    for folder, dirs, files in os.walk(root):  # followlinks=False: link dirs are not entered
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                continue
            target = os.path.realpath(path)
            if os.path.commonpath([real_root, target]) != real_root:
                reason = "outside the directory"
            elif os.path.isdir(target):
                reason = "a directory (a link to a directory is not followed)"
            elif not os.path.isfile(target):
                reason = "nothing (a dangling link)" if not os.path.lexists(target) else (
                    "no regular file")
            else:
                continue
            raise UnsafePath(root, os.path.relpath(path, root), os.readlink(path),
                             action=action, reason=reason)


def _refuse_names_out(uri: str, root: str, names: list[str]) -> None:
    """Object names (keys) under ``root`` whose relative part climbs out of it
    (``dir/../../x``: an object store allows any name) would be written outside the
    download directory: :class:`UnsafePath`, before anything is written."""
    import posixpath

    for name in names:
        if not name.startswith(root):
            continue
        relative = name[len(root):]
        normal = posixpath.normpath(relative)
        if relative.startswith("/") or normal == ".." or normal.startswith("../"):
            raise UnsafePath(uri, name, normal, action="download")


def exists(uri: str) -> bool:
    path = local_path(uri)
    if path is not None:
        return os.path.exists(path)
    fs, remote = filesystem(uri)
    return bool(fs.exists(remote))


def remove(uri: str) -> None:
    """Remove a stale file if present (an earlier attempt's outputs or error)."""
    path = local_path(uri)
    try:
        if path is not None:
            if os.path.exists(path):
                os.unlink(path)
            return
        fs, remote = filesystem(uri)
        if fs.exists(remote):
            fs.rm_file(remote)
    except ShimTaskError:  # StorageError, MissingDependency
        raise
    except Exception as exc:
        raise StorageError(uri, "remove", exc) from exc
