"""shimtask executor ``sqlite``: run SQL queries against a SQLite database file.

It runs the templates flytekit's ``SQLite3Task`` serializes (type ``sqlite``,
``custom = {query_template, uri, compressed}``) unchanged, and templates made
with ``shimtask_core.make_template(name, "sqlite", custom={...})``.

* **inputs are bound, never pasted**: ``{{ .inputs.x }}`` placeholders become
  named parameters (see ``shimtask_core.sqltemplate``); ``'{{ .inputs.name }}'``
  binds the value, its quotes dropped. Values sqlite cannot bind are adapted:
  ``datetime`` -> ``'YYYY-MM-DD HH:MM:SS[.ffffff]'`` text in UTC (SQLite's own
  format), ``date`` -> ``'YYYY-MM-DD'``, ``timedelta`` -> seconds (float),
  lists and dicts -> JSON text, enums -> their value. A list in
  ``IN ({{ .inputs.ids }})`` is one parameter per element.
* **uri**: a local path (relative paths are resolved against the working
  directory, as flytekit does), a ``file://`` URI, or any URI fsspec reads
  (``s3://`` with s3fs, ``https://`` with aiohttp, ...), downloaded to a
  temporary directory that is removed afterwards. Local files are not copied.
* **compressed**: the uri is a zip or tar (``.tar``, ``.tar.gz``, ``.tar.bz2``,
  ``.tar.xz``) archive holding exactly one file, the database; it is extracted
  to a temporary directory, as flytekit does. Hostile archives cannot reach
  outside it or fill the disk: the member is written under a fixed name (its own
  path, ``../../x`` or ``/etc/x``, is never used), a member that is a link is
  refused, and extraction stops with ``LimitExceeded`` past
  ``SHIMTASK_SQLITE_MAX_EXTRACT_BYTES`` (default 10 GiB; ``20GiB``, ``500MB``...),
  checked on the declared size before anything is written and while copying.
* **read-only**: the database is opened read-only, so a query never changes the
  user's file. (flytekit ran queries on a throwaway copy; a statement that
  writes fails here with "attempt to write a readonly database".)
* **one statement**: a template runs exactly one statement, as Python's sqlite3
  executes one; a temporary table it created could not be read by a second one,
  so intermediate results are common table expressions (``WITH ... SELECT``).
* **errors**: sqlite's own exceptions pass through with their type,
  ``sqlite_errorcode`` and ``sqlite_errorname``, their message extended with the
  database and the query.
* **cold start**: nothing for archives or downloads (``tarfile``, ``zipfile``,
  ``tempfile``, ``shutil``) is imported, and no directory made, for a local file.
* **output**: the rows, as a list of dicts (column name -> value) in the
  order the query returns them; the list also carries ``.columns``, the
  column names in order, which a list of zero dicts cannot tell. Values are
  ``int``, ``float``, ``str`` or ``None``; a BLOB becomes its base64 text (a
  generic/JSON output cannot hold bytes) unless the declared output is a
  schema or structured dataset, where it stays ``bytes``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, ClassVar

from shimtask_core import (
    LimitExceeded,
    ShimTaskExecutor,
    StorageError,
    TemplateError,
    compile_query,
    custom_of,
    interruptible,
    local_path,
    open_uri,
)

if TYPE_CHECKING:  # pathlib is imported for downloads and archives only: it loads
    # urllib.parse and ipaddress, ~0.8 MB of a cold task's peak memory
    from pathlib import Path

    from flyteidl.core.tasks_pb2 import TaskTemplate

__all__ = ["Rows", "SQLite3Executor"]
__version__ = "0.1.0"

_BINARY_OUTPUT_KINDS = frozenset({"schema", "structured_dataset_type"})
_DATABASE_NAME = "database.sqlite3"
_COPY_CHUNK = 1 << 20
#: The most an archive may expand to (a zip bomb would fill the pod's disk).
MAX_EXTRACT_ENV = "SHIMTASK_SQLITE_MAX_EXTRACT_BYTES"
MAX_EXTRACT_DEFAULT = 10 * 2**30
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "t": 10**12, "tb": 10**12, "ki": 2**10, "kib": 2**10, "mi": 2**20,
          "mib": 2**20, "gi": 2**30, "gib": 2**30, "ti": 2**40, "tib": 2**40}


#: Output types that a list of rows can never be (a scalar, a file, a dict by key).
_NOT_ROWS_KINDS = frozenset({"simple", "blob", "enum_type", "map_value_type"})


class Rows(list[dict[str, Any]]):
    """A query's rows (dicts by column name) that also know their column names."""

    columns: tuple[str, ...]

    def __init__(self, rows: Iterable[dict[str, Any]] = (), columns: Sequence[str] = ()) -> None:
        super().__init__(rows)
        self.columns = tuple(columns)


class SQLite3Executor(ShimTaskExecutor[Any]):
    """Runs ``custom["query_template"]`` against the SQLite database at ``custom["uri"]``."""

    task_type_versions: ClassVar[frozenset[int] | None] = None

    def execute_from_model(self, tt: TaskTemplate, /, **kwargs: Any) -> Any:
        source = tt.id.name or None
        custom = custom_of(tt)
        query_template = _required_str(custom, "query_template", source)
        uri = _required_str(custom, "uri", source)
        compressed = custom.get("compressed", False)
        if not isinstance(compressed, bool):
            raise TemplateError(f"custom['compressed'] must be true or false, not {compressed!r}",
                                source=source)
        outputs = tt.interface.outputs.variables
        if len(outputs) > 1:
            raise TemplateError(
                f"the template declares outputs {', '.join(sorted(outputs))}; the sqlite "
                f"executor produces one output, the query's rows", source=source)
        for name, variable in outputs.items():
            if variable.type.WhichOneof("type") in _NOT_ROWS_KINDS:
                from shimtask_core.literals import describe  # only for the error

                raise TemplateError(
                    f"output {name!r} is {describe(variable.type)}; the sqlite executor "
                    f"returns the query's rows: declare its output as a FlyteSchema or "
                    f"StructuredDataset (as flytekit's SQLite3Task does; pyarrow.Table in "
                    f"make_template) or as list[dict] (the duckdb executor maps columns to "
                    f"scalar outputs)", source=source)

        sql, params = compile_query(query_template, kwargs, "named", source=source)
        bound = {name: _sqlite_value(name, value) for name, value in params.items()}
        keep_bytes = any(var.type.WhichOneof("type") in _BINARY_OUTPUT_KINDS
                         for var in outputs.values())
        with contextlib.ExitStack() as stack:
            def scratch() -> Path:  # made only for a download or an extraction: creating and
                # removing a directory costs more than a small query on some file systems
                import tempfile  # as are importing tempfile, shutil and the archive modules
                from pathlib import Path

                return Path(stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="shimtask-sqlite3-")))

            database = _local_database(uri, compressed, scratch)
            rows = self.query(database, sql, bound, uri=uri, keep_bytes=keep_bytes)
        return rows if outputs else None

    def query(
        self,
        database: str | os.PathLike[str],
        sql: str,
        params: Mapping[str, Any],
        *,
        uri: str,
        keep_bytes: bool = False,
    ) -> Rows:
        """Run one statement read-only on a local database file and return its rows."""
        try:
            with contextlib.closing(
                # absolute, not resolved: SQLite follows links itself, and resolving
                # costs an lstat per path component on every query
                sqlite3.connect(_file_uri(_absolute(database)) + "?mode=ro", uri=True)
            ) as con, interruptible(con.interrupt):  # a time limit or SIGTERM stops it
                cursor = con.execute(sql, params)
                columns = [item[0] for item in cursor.description or ()]
                records = cursor.fetchall()
        except (sqlite3.Error, sqlite3.Warning) as exc:
            # The same exception, its message extended: a new one (type(exc)(...)) would
            # drop sqlite_errorcode and sqlite_errorname, which callers branch on.
            exc.args = (_explain(exc, sql, uri, database), *exc.args[1:])
            raise
        duplicates = sorted({name for name in columns if columns.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"the query returns more than one column named {', '.join(map(repr, duplicates))}"
                f"; rows are dicts by column name, so give each column its own name with AS "
                f"(query: {sql})")
        return Rows(
            (dict(zip(columns, (_output_value(v, keep_bytes) for v in record), strict=True))
             for record in records),
            columns,
        )


# --- the database file --------------------------------------------------------------


def _required_str(custom: Mapping[str, Any], key: str, source: str | None) -> str:
    value = custom.get(key)
    if not isinstance(value, str) or not value:
        raise TemplateError(
            f"custom[{key!r}] must be a non-empty string (a SQLite3Task template has "
            f"query_template, uri and compressed), got {value!r}", source=source)
    return value


def _local_database(uri: str, compressed: bool, scratch: Callable[[], Path]) -> str | Path:
    """A local path to the database: the file itself, or a download/extraction under a
    temporary directory that ``scratch()`` creates."""
    path = local_path(uri)  # the core decides what is local (file:// URIs per RFC 8089)
    tmp: Path | None = None
    local: str | Path
    if path is None:
        import urllib.parse  # a download only
        from pathlib import Path

        tmp = scratch()
        local = _download(uri, tmp / (Path(urllib.parse.urlparse(uri).path).name or "download"))
    else:
        local = path
        if not os.path.isfile(local):
            where = "" if os.path.isabs(local) else (
                f" (relative to the working directory {os.getcwd()})")
            what = "is a directory, not a file" if os.path.isdir(local) else "does not exist"
            raise FileNotFoundError(f"sqlite database {uri!r} {what}: {_absolute(local)}{where}")
    if compressed:
        return _extract(local, uri, (tmp or scratch()) / "extracted")
    return local


def _absolute(path: str | os.PathLike[str]) -> str:
    """The path made absolute as ``Path.absolute()`` does: joined to the working
    directory, nothing resolved or collapsed."""
    text = os.fspath(path)
    return text if os.path.isabs(text) else os.path.join(os.getcwd(), text)


def _file_uri(path: str) -> str:
    """The ``file:`` URI SQLite opens for an absolute path: the characters a URI reserves
    for itself (``%``, ``?``, ``#``) escaped, which is all SQLite decodes."""
    if os.name == "nt":  # pragma: no cover - drive letters and backslashes
        from pathlib import Path

        return Path(path).as_uri()
    return "file://" + path.replace("%", "%25").replace("?", "%3F").replace("#", "%23")


def _download(uri: str, dest: Path) -> Path:
    import shutil

    try:
        with open_uri(uri, "rb") as src, dest.open("wb") as dst:
            shutil.copyfileobj(src, dst, _COPY_CHUNK)
    except StorageError as exc:  # the core could not open it (its cause says why)
        if isinstance(exc.cause, FileNotFoundError):
            raise FileNotFoundError(f"sqlite database {uri!r} does not exist: {exc.cause}"
                                    ) from exc
        raise
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"sqlite database {uri!r} does not exist: {exc}") from exc
    except OSError as exc:
        raise StorageError(uri, "download the sqlite database", exc) from exc
    return dest


def _is_junk(name: str) -> bool:
    """Archive members that are not data: macOS resource forks and Finder files."""
    from pathlib import Path

    parts = Path(name).parts
    return "__MACOSX" in parts or (bool(parts) and (parts[-1].startswith("._")
                                                    or parts[-1] == ".DS_Store"))


def max_extract_bytes(environ: Mapping[str, str] | None = None) -> int:
    """``SHIMTASK_SQLITE_MAX_EXTRACT_BYTES``: bytes, with an optional unit (``500MB``,
    ``20GiB``); unset, the default (10 GiB). A value that does not parse is an error
    naming the variable (a limit silently not applied would be worse)."""
    raw = (os.environ if environ is None else environ).get(MAX_EXTRACT_ENV, "").strip()
    if not raw:
        return MAX_EXTRACT_DEFAULT
    text = raw.lower()
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz ")
    unit = _UNITS.get(text[len(digits):].strip())
    try:
        number = float(digits.replace("_", "")) * unit if unit is not None else 0.0
    except ValueError:
        number = 0.0
    if not 1 <= number < float("inf"):
        raise ValueError(f"{MAX_EXTRACT_ENV}={raw!r}: expected a positive number of bytes, "
                         f"like 1073741824, 500MB or 20GiB")
    return int(number)


def _extract(archive: str | Path, uri: str, to_dir: Path) -> Path:
    """The one file in a zip or tar archive, written under to_dir (never where it says),
    at most ``max_extract_bytes()`` of it."""
    import tarfile
    import zipfile

    limit = max_extract_bytes()
    to_dir.mkdir(parents=True, exist_ok=True)
    dest = to_dir / _DATABASE_NAME
    if zipfile.is_zipfile(archive):
        import stat

        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and not _is_junk(i.filename)]
            for info in infos:
                if stat.S_ISLNK(info.external_attr >> 16):
                    _refuse_link(uri, info.filename, "a symbolic link")
            _one_member(uri, [i.filename for i in infos])
            _check_size(uri, infos[0].filename, infos[0].file_size, limit)
            with zf.open(infos[0]) as src:
                _copy(src, dest, uri=uri, member=infos[0].filename, limit=limit)
        return dest
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = []
            for member in tf:  # read as it goes: a bomb's size is seen before its data
                if _is_junk(member.name):
                    continue
                if member.issym() or member.islnk():
                    _refuse_link(uri, member.name, f"a link to {member.linkname!r}")
                if member.isfile():
                    _check_size(uri, member.name, member.size, limit)
                    members.append(member)
            _one_member(uri, [m.name for m in members])
            stream = tf.extractfile(members[0])
            assert stream is not None  # a regular file always has a stream
            with stream:
                _copy(stream, dest, uri=uri, member=members[0].name, limit=limit)
        return dest
    raise ValueError(
        f"sqlite database {uri!r} is marked compressed but is neither a zip nor a tar "
        f"archive (.zip, .tar, .tar.gz, .tar.bz2, .tar.xz); set compressed to false for a "
        f"plain database file")


def _one_member(uri: str, names: Sequence[str]) -> None:
    if len(names) != 1:
        raise ValueError(
            f"the compressed sqlite database {uri!r} must hold exactly one file, the "
            f"database; it holds {len(names)}: {', '.join(names[:10]) or 'nothing'}")


def _refuse_link(uri: str, name: str, what: str) -> None:
    raise ValueError(
        f"the compressed sqlite database {uri!r} holds {name!r}, {what}; the database "
        f"must be a regular file in the archive (links are never followed or extracted)")


def _too_big(uri: str, name: str, size: int, limit: int, *, at_least: bool) -> LimitExceeded:
    return LimitExceeded(f"the database {name!r} extracted from {uri!r}", "extract_bytes",
                         size, limit, variable=MAX_EXTRACT_ENV, unit="bytes",
                         at_least=at_least)


def _check_size(uri: str, name: str, declared: int, limit: int) -> None:
    """The size the archive declares, checked before a byte is written."""
    if declared > limit:
        raise _too_big(uri, name, declared, limit, at_least=False)


def _copy(src: IO[bytes], dest: Path, *, uri: str, member: str, limit: int) -> None:
    """Copy at most ``limit`` bytes (an archive's declared sizes can lie); past it the
    partial file is removed with the temporary directory."""
    written = 0
    with dest.open("wb") as dst:
        while chunk := src.read(min(_COPY_CHUNK, limit + 1 - written)):
            written += len(chunk)
            if written > limit:
                raise _too_big(uri, member, written, limit, at_least=True)
            dst.write(chunk)


def _explain(exc: BaseException, sql: str, uri: str, database: str | os.PathLike[str]
             ) -> str:
    message = f"{exc} (database {uri!r}; query: {sql})"
    text = str(exc)
    if "readonly database" in text:
        message += ("; the sqlite executor opens the database read-only, so queries cannot "
                    "change it (use WITH ... SELECT for intermediate results)")
    elif "one statement at a time" in text:
        message += ("; a template runs one statement: use WITH ... SELECT for intermediate "
                    "results")
    elif "file is not a database" in text:
        import tarfile  # only to explain this error
        import zipfile

        if zipfile.is_zipfile(database) or tarfile.is_tarfile(database):
            message += "; the file is an archive: set compressed to true"
    return message


# --- values in and out ----------------------------------------------------------------


def _sqlite_value(name: str, value: Any) -> Any:
    """An input value as something sqlite3 binds without a (deprecated) adapter."""
    if value is None or isinstance(value, (int, float, str, bytes)):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return _sqlite_value(name, value.value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple, dict)):
        import json  # only for collection inputs

        try:
            return json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"input {name!r}: cannot bind {type(value).__name__} as JSON "
                            f"text: {exc}") from exc
    raise TypeError(f"input {name!r}: sqlite cannot bind a {type(value).__name__} value")


def _output_value(value: Any, keep_bytes: bool) -> Any:
    if isinstance(value, bytes) and not keep_bytes:
        import base64  # only for BLOBs

        return base64.b64encode(value).decode("ascii")
    return value
