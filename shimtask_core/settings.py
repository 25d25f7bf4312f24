"""Every ``SHIMTASK_*`` environment variable, read by one parser per kind of value.

A switch is true for ``1``, ``true``, ``yes``, ``on`` and false for ``0``,
``false``, ``no``, ``off`` (any case; unset or blank: its default), the same for
every switch. A value that does not parse is never silently ignored: it gives a
:class:`~shimtask_core.errors.ShimTaskWarning` naming the variable and what was
expected (once per value and process), and the default is used. The CLI prints
those as one line, ``shimtask: warning: ...``.

The variables (``docs/cli.md`` has the table users read):

* ``SHIMTASK_ALLOW``, ``SHIMTASK_DENY``: comma-separated globs (:func:`globs`);
* ``SHIMTASK_PREFER``: ``name=dist,...`` (:func:`pairs`);
* ``SHIMTASK_NO_INDEX``, ``SHIMTASK_EXIT_ZERO_ON_ERROR``: switches (:func:`switch`);
* ``SHIMTASK_CACHE_DIR``: a directory (:func:`text`);
* ``SHIMTASK_LOG_LEVEL``: a logging level name, or ``0``/``off`` (:func:`level`);
* ``SHIMTASK_MAX_*`` (``shimtask_core.limits``): sizes in bytes (:func:`size`) and counts
  (:func:`count`); ``SHIMTASK_EXECUTION_TIMEOUT``: seconds (:func:`seconds`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

ALLOW: Final = "SHIMTASK_ALLOW"
DENY: Final = "SHIMTASK_DENY"
PREFER: Final = "SHIMTASK_PREFER"
NO_INDEX: Final = "SHIMTASK_NO_INDEX"
CACHE_DIR: Final = "SHIMTASK_CACHE_DIR"
EXIT_ZERO_ON_ERROR: Final = "SHIMTASK_EXIT_ZERO_ON_ERROR"
LOG_LEVEL: Final = "SHIMTASK_LOG_LEVEL"
MAX_TEMPLATE_BYTES: Final = "SHIMTASK_MAX_TEMPLATE_BYTES"
MAX_INPUTS_BYTES: Final = "SHIMTASK_MAX_INPUTS_BYTES"
MAX_OUTPUTS_BYTES: Final = "SHIMTASK_MAX_OUTPUTS_BYTES"
MAX_DEPTH: Final = "SHIMTASK_MAX_DEPTH"
MAX_COLLECTION: Final = "SHIMTASK_MAX_COLLECTION"
EXECUTION_TIMEOUT: Final = "SHIMTASK_EXECUTION_TIMEOUT"

TRUE: Final = frozenset({"1", "true", "yes", "on", "y"})
FALSE: Final = frozenset({"0", "false", "no", "off", "n"})
#: Logging levels by name (``logging`` itself is imported only when one is asked for).
LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_OFF: Final = frozenset({"0", "OFF", "NONE", "QUIET", "FALSE", "NO"})

_warned: set[tuple[str, str]] = set()


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    return value if value is not None and value.strip() else None


def malformed(name: str, value: str, problem: str) -> None:
    """Warn, once per process, that ``name=value`` cannot be used, and why."""
    if (name, value) in _warned:
        return
    _warned.add((name, value))
    import warnings

    from .errors import ShimTaskWarning

    warnings.warn(ShimTaskWarning(f"{name}={value!r} is ignored: {problem}"), stacklevel=3)


def switch(name: str, default: bool = False, environ: Mapping[str, str] | None = None
           ) -> bool:
    """An on/off variable."""
    raw = _raw(name, environ)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    malformed(name, raw, f"expected 1/0, true/false, yes/no or on/off (so it is "
                         f"{'on' if default else 'off'})")
    return default


def text(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A variable taken as it is (a path); None when unset or blank."""
    raw = _raw(name, environ)
    return raw.strip() if raw is not None else None


def globs(name: str, environ: Mapping[str, str] | None = None) -> list[str] | None:
    """``"a, b;c"`` -> ``["a", "b", "c"]``; None when unset or blank."""
    raw = _raw(name, environ)
    if raw is None:
        return None
    return [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]


def pairs(name: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``"sqlite=shimtask-sqlite3,..."`` -> ``{"sqlite": "shimtask-sqlite3"}``; an item that
    is not ``NAME=VALUE`` gives a warning naming it and is left out."""
    raw = _raw(name, environ)
    found: dict[str, str] = {}
    bad = []
    for item in globs(name, environ) or []:
        key, sep, value = item.partition("=")
        if sep and key.strip() and value.strip():
            found[key.strip()] = value.strip()
        else:
            bad.append(item)
    if bad and raw is not None:
        malformed(name, raw, f"expected NAME=DISTRIBUTION[,NAME=DISTRIBUTION...]; "
                             f"{', '.join(map(repr, bad))} is not one")
    return found


def level(name: str = LOG_LEVEL, environ: Mapping[str, str] | None = None) -> str | None:
    """A logging level name (``INFO``...), or None for unset, ``0`` and ``off``; a name that
    is not a level still means "tell me" (``INFO``), with a warning."""
    raw = _raw(name, environ)
    if raw is None:
        return None
    upper = raw.strip().upper()
    if upper in _OFF:
        return None
    if upper in LEVELS or upper == "WARN":
        return "WARNING" if upper == "WARN" else upper
    if upper.isdigit():
        return upper  # a numeric level, as logging takes it
    malformed(name, raw, f"expected one of {', '.join(LEVELS)} or off (so INFO is used)")
    return "INFO"


#: Size suffixes (any case): decimal ``k``/``m``/``g`` (``kb``...) and binary ``ki``/``mi``/``gi``
#: (``kib``...), as Kubernetes and most tools write them.
_UNITS: Final = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6,
                 "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
                 "ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20, "gi": 2**30,
                 "gib": 2**30, "ti": 2**40, "tib": 2**40}


def _number(raw: str) -> float | None:
    try:
        value = float(raw.replace("_", ""))
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def size(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    """A positive number of bytes: ``1048576``, ``64MiB``, ``1g``, ``1.5Gi``."""
    raw = _raw(name, environ)
    if raw is None:
        return default
    text = raw.strip().lower()
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz ")
    unit = _UNITS.get(text[len(digits):].strip())
    number = _number(digits) if unit is not None else None
    if number is None or number * (unit or 1) < 1:
        malformed(name, raw, f"expected a positive number of bytes, like 1048576, 64MiB or "
                             f"1G (so {default} is used)")
        return default
    return int(number * (unit or 1))


def count(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    """A positive whole number: ``10000000``, ``10_000_000``."""
    raw = _raw(name, environ)
    if raw is None:
        return default
    number = _number(raw.strip())
    if number is None or number < 1 or number != int(number):
        malformed(name, raw, f"expected a positive whole number (so {default} is used)")
        return default
    return int(number)


def seconds(name: str, environ: Mapping[str, str] | None = None) -> float | None:
    """A positive number of seconds, or None for unset, ``0`` and ``off`` (no limit)."""
    raw = _raw(name, environ)
    if raw is None or raw.strip().upper() in _OFF:
        return None
    number = _number(raw.strip().lower().removesuffix("s"))
    if number is None or number <= 0:
        malformed(name, raw, "expected a positive number of seconds, or 0/off for none "
                             "(so there is no limit)")
        return None
    return number
