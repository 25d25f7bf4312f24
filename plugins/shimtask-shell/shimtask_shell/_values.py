"""Values as command-line text, and the text a command writes back as values.

One documented form per type, so that a command sees the same text for the same
value on every machine: ``true``/``false``, Python's shortest round-trip float
(``0.1``, ``1e+16``, ``inf``), ISO 8601 datetimes with their UTC offset, and
durations as exact decimal seconds (``90``, ``0.25``).
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from typing import Any, Final

from shimtask_core import Directory, File, ValueTypeError

from ._spec import OutputKind

_MICROSECONDS: Final = dt.timedelta(microseconds=1)
_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})


def input_arguments(name: str, value: Any, *, many: bool) -> list[str]:
    """The argument(s) an input stands for: a list is one argument per element."""
    if many and isinstance(value, (list, tuple)):
        return [as_text(f"{name}[{i}]", item) for i, item in enumerate(value)]
    return [as_text(name, value)]


def as_text(name: str, value: Any) -> str:
    """The text form of one input value; File and Directory become local paths."""
    if isinstance(value, enum.Enum):
        value = value.value
    text: str
    if value is None:
        raise ValueTypeError(name, "a value", "None (an optional input left empty has no text "
                             "form; give it a value)", direction="input")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, dt.datetime):
        text = value.isoformat()
    elif isinstance(value, dt.timedelta):
        text = duration_text(value)
    elif isinstance(value, (File, Directory)):
        text = value.path  # a remote blob is downloaded here, through the core
    elif isinstance(value, os.PathLike):
        text = os.fspath(value)
    else:
        raise ValueTypeError(name, "a str, int, float, bool, datetime, timedelta, File or "
                             "Directory", type(value).__name__, direction="input")
    if "\0" in text:
        raise ValueTypeError(name, "text without NUL characters",
                             "a value containing \\0, which no argument or environment "
                             "variable can hold", direction="input")
    return text


def duration_text(value: dt.timedelta) -> str:
    """Exact decimal seconds: ``90``, ``0.25``, ``-1.5``."""
    micros = value // _MICROSECONDS
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    if not fraction:
        return f"{sign}{seconds}"
    return f"{sign}{seconds}.{fraction:06d}".rstrip("0")


def parse_output(name: str, kind: OutputKind, text: str) -> Any:
    """The value of a scalar output from the text the command wrote.

    A ``str`` loses its trailing line breaks (as the shell's ``$(...)`` does);
    the other types are read after stripping surrounding whitespace.
    """
    if kind == "str":
        return text.rstrip("\r\n")
    word = text.strip()
    why = ""
    try:
        if kind == "int":
            return int(word)
        if kind == "float":
            return float(word)
        if kind == "bool":
            if word.lower() in _TRUE:
                return True
            if word.lower() in _FALSE:
                return False
            raise ValueError(word)
        if kind == "datetime":
            # The core's grammar, not fromisoformat, whose language changes with the Python
            # version (3.10 refuses 20240501T120000Z and .5Z; 3.11 truncates nanoseconds)
            from shimtask_core.literals.timetext import parse_datetime

            try:
                return parse_datetime(word)
            except ValueError as exc:  # ISO 8601 but no datetime Flyte holds: say why
                if "is not an ISO 8601" not in str(exc):
                    why = "it " + str(exc).removeprefix(f"{word!r} ")
                raise
        if kind == "duration":
            return dt.timedelta(seconds=float(word))
    except (ValueError, OverflowError):
        pass
    else:
        raise AssertionError(f"not a scalar output kind: {kind}")
    shown = word if len(word) <= 80 else word[:77] + "..."
    raise ValueTypeError(name, _FORMS[kind], f"{shown!r} (the text the command wrote at "
                         f"{{{{ .outputs.{name} }}}}){': ' + why if why else ''}",
                         direction="output")


_FORMS: Final[dict[str, str]] = {
    "int": "an integer such as 42",
    "float": "a number such as 0.5",
    "bool": "true, false, 1 or 0",
    "datetime": "an ISO 8601 datetime such as 2024-05-01T12:00:00+00:00",
    "duration": "a number of seconds such as 1.5",
}
