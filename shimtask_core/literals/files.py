"""Files and directories: Flyte blob literals as small path-like values.

A :class:`File` (blob, single) or :class:`Directory` (blob, multipart) holds a
remote ``uri`` and/or a local ``path``. An input arrives with its URI; its
content is downloaded on first use of ``path`` (``open(f)``, ``os.fspath(f)``),
through fsspec for remote URIs and not at all for local ones. An output is a
``File``/``Directory``, a ``str`` or any ``os.PathLike``: a local path is
uploaded under the execution's raw output prefix with a unique name (as
flytekit does: ``<prefix>/<32 hex>/<file name>`` for a file, ``<prefix>/<32 hex>``
for a directory); a remote URI is written as is, without copying. Inputs
built from Python values (``shimtask run``, ``run_template``) are passed by
their absolute path instead: a local run copies nothing.
"""

from __future__ import annotations

import os
import uuid
from _contextvars import ContextVar  # the built-in contextvars re-exports (one module less)
from typing import IO, Any, Final

from flyteidl.core import literals_pb2, types_pb2

from .. import storage
from ..context import current_context
from .base import Decoder, Filler, LiteralType, Mismatch, got, literal_kind
from .structs import dict_of
from .types import describe

_MULTIPART: Final = types_pb2.BlobType.MULTIPART


class _Blob(os.PathLike[str]):
    __slots__ = ("_local", "_uri")

    _local: str | None
    _uri: str | None

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """A local path (to upload when returned as an output) or a remote URI."""
        text = os.fspath(path)
        local = storage.local_path(text)
        self._uri = text if local is None else None
        self._local = local

    @classmethod
    def from_uri(cls, uri: str) -> Any:
        """The value of a blob literal: its URI, with a local path only if the URI is local."""
        blob = cls.__new__(cls)
        blob._uri = uri
        blob._local = storage.local_path(uri)
        return blob

    @property
    def uri(self) -> str | None:
        """Where the content lives in Flyte's storage; None for a local value not yet uploaded."""
        return self._uri

    @property
    def remote(self) -> bool:
        """Whether the content is elsewhere than on this machine's filesystem."""
        return self._uri is not None and storage.local_path(self._uri) is None

    @property
    def downloaded(self) -> bool:
        """Whether ``path`` is available without a download."""
        return self._local is not None

    @property
    def path(self) -> str:
        """The local path, downloading the content on first use."""
        if self._local is None:
            self._local = self.download()
        return self._local

    def download(self) -> str:
        """Fetch the content into a fresh local directory (once) and return its path."""
        if self._local is not None:
            return self._local
        assert self._uri is not None
        self._local = self._fetch(self._uri, _download_dir())
        return self._local

    def _fetch(self, uri: str, into: str) -> str:
        raise NotImplementedError

    @property
    def name(self) -> str:
        """The last component of the path or URI."""
        return _basename(self._uri or self._local or "")

    def __fspath__(self) -> str:
        return self.path

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Blob)
        return (self._uri, self._local if self._uri is None else None) == (
            other._uri, other._local if other._uri is None else None)

    def __hash__(self) -> int:
        return hash((type(self), self._uri, self._local if self._uri is None else None))

    def __repr__(self) -> str:
        parts = []
        if self._uri is not None:
            parts.append(f"uri={self._uri!r}")
        if self._local is not None:
            parts.append(f"path={self._local!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class File(_Blob):
    """A file: Flyte's blob of dimensionality SINGLE (flytekit's ``FlyteFile``)."""

    __slots__ = ()

    def open(self, mode: str = "rb") -> IO[Any]:
        """Open the (downloaded) local copy."""
        return open(self.path, mode)

    def read_bytes(self) -> bytes:
        with open(self.path, "rb") as fh:
            return fh.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        with open(self.path, encoding=encoding) as fh:
            return fh.read()

    def _fetch(self, uri: str, into: str) -> str:
        target = os.path.join(into, _basename(uri) or "file")
        storage.get(uri, target)
        return target


class Directory(_Blob):
    """A directory: Flyte's blob of dimensionality MULTIPART (flytekit's ``FlyteDirectory``)."""

    __slots__ = ()

    def listdir(self) -> list[str]:
        """The relative paths of all files below the (downloaded) directory, sorted."""
        root = self.path
        found = []
        for folder, _, names in os.walk(root):
            for name in names:
                found.append(os.path.relpath(os.path.join(folder, name), root))
        return sorted(found)

    def _fetch(self, uri: str, into: str) -> str:
        target = os.path.join(into, _basename(uri) or "directory")
        storage.get(uri, target, recursive=True)
        return target


def _basename(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


#: While set (to a list), every download directory made in this context is appended
#: to it, for its owner to remove when the execution ends (``shimtask serve`` does,
#: per execution); a ``ContextVar``, so concurrent executions keep theirs apart.
DOWNLOADS: Final[ContextVar[list[str] | None]] = ContextVar("shimtask_downloads", default=None)


def _download_dir() -> str:
    """A fresh directory for one download, in the execution's ``working_dir`` (else the
    temporary directory).

    It is removed by whoever collects :data:`DOWNLOADS`, else by the owner of
    ``working_dir`` (``shimtask run`` removes its own); failing both (``shimtask
    execute``, ``run_template``), at interpreter exit: a ``File`` stays readable for
    the life of the process, and nothing is left behind after it.
    """
    import tempfile  # not imported for executions that download nothing

    base = current_context().working_dir
    if base is not None and not os.path.isdir(base):
        base = None
    made = tempfile.mkdtemp(prefix="shimtask-download-", dir=base)
    collecting = DOWNLOADS.get()
    if collecting is not None:
        collecting.append(made)
    elif base is None:
        import atexit
        import shutil

        atexit.register(shutil.rmtree, made, ignore_errors=True)
    return made


# --- the codec ----------------------------------------------------------------------


def _output_uri(value: Any, multi: bool, expected: str, by_reference: bool = False) -> str:
    """The URI to write for a value: uploading local content first, or (``by_reference``)
    its absolute path."""
    cls: type[_Blob] = Directory if multi else File
    if isinstance(value, _Blob):
        if not isinstance(value, cls):
            raise Mismatch(expected, got(value))
        if value.uri is not None:  # already in storage: written as is, as flytekit does
            return storage.absolute(value.uri)
        local = value._local
        assert local is not None
    elif isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if not isinstance(text, str):
            raise Mismatch(expected, got(value))
        maybe_local = storage.local_path(text)
        if maybe_local is None:
            return text
        local = maybe_local
    else:
        raise Mismatch(expected, f"{got(value)} (give a path, a URI or a "
                                 f"{cls.__name__})")
    if not os.path.exists(local):
        raise Mismatch(expected, f"{local!r}, {storage.missing(local)}")
    if multi and not os.path.isdir(local):
        raise Mismatch(expected, f"{local!r}, which is not a directory")
    if not multi and not os.path.isfile(local):
        raise Mismatch(expected, f"{local!r}, which is not a file")
    if by_reference:
        return os.path.abspath(local)
    return upload(local, multi=multi)


def upload(local: str, *, multi: bool) -> str:
    """Copy a local file or directory under the raw output prefix; returns its new URI."""
    # a local prefix made absolute (ExecutionContext(raw_output_prefix="out") from Python):
    # the URI is read from other directories
    prefix = storage.absolute(current_context().raw_output_prefix)
    folder = storage.join(prefix, uuid.uuid4().hex)
    uri = folder if multi else storage.join(folder, os.path.basename(local.rstrip("/")))
    storage.put(local, uri, recursive=multi)
    return uri


def blob_filler(lt: types_pb2.LiteralType, *, by_reference: bool = False) -> Filler:
    """The filler of a blob type: a File/Directory, path or URI -> a blob literal
    (``by_reference``: a local one keeps its path, made absolute, and is not copied)."""
    multi = lt.blob.dimensionality == _MULTIPART
    blob_type = lt.blob
    expected = describe(lt)

    def fill(value: Any, target: literals_pb2.Literal) -> None:
        uri = _output_uri(value, multi, expected, by_reference)
        blob = target.scalar.blob
        blob.metadata.type.CopyFrom(blob_type)
        blob.uri = uri

    return fill


def blob_decoder(lt: types_pb2.LiteralType) -> Decoder:
    """The decoder of a blob type: a blob literal -> a File or Directory (not downloaded)."""
    multi = lt.blob.dimensionality == _MULTIPART
    cls: type[_Blob] = Directory if multi else File
    expected = describe(lt)

    def decode(lit: literals_pb2.Literal) -> Any:
        scalar = lit.scalar
        kind = scalar.WhichOneof("value")
        if kind == "blob":
            blob = scalar.blob
            if (blob.metadata.type.dimensionality == _MULTIPART) != multi:
                raise Mismatch(expected, "a directory" if not multi else "a single file")
            return cls.from_uri(blob.uri)
        # a file inside a dataclass, resolved by propeller: {"path": uri, ...}
        fields = dict_of(lit)
        if fields is not None and isinstance(fields.get("path"), str):
            return cls.from_uri(fields["path"])
        raise Mismatch(expected, literal_kind(lit))

    return decode


class _Blobs:
    """The converter of blob types (``types.EXTERNAL_KINDS["blob"]``)."""

    __slots__ = ()

    def python_type(self, lt: types_pb2.LiteralType) -> Any:
        return Directory if lt.blob.dimensionality == _MULTIPART else File

    filler = staticmethod(blob_filler)

    def decoder(self, lt: types_pb2.LiteralType, *, lazy: bool = False) -> Decoder:
        return blob_decoder(lt)  # lazy or not: a File is downloaded on first use only

    def literal_type(self, py_type: type) -> types_pb2.LiteralType | None:
        if issubclass(py_type, Directory):
            return LiteralType(blob=types_pb2.BlobType(dimensionality=_MULTIPART))
        if issubclass(py_type, File):
            return LiteralType(blob=types_pb2.BlobType(dimensionality=types_pb2.BlobType.SINGLE))
        return None

    def value_kinds(self, value: Any) -> tuple[str, ...] | None:
        if isinstance(value, Directory):
            return ("dir",)
        if isinstance(value, File):
            return ("file",)
        return None


BLOBS: Final = _Blobs()
