"""One structured line per phase of an execution, on stderr, when asked for.

Quiet by default. ``SHIMTASK_LOG_LEVEL=INFO`` (or ``shimtask execute --verbose``)
prints one ``key=value`` line per phase, readable in the Flyte console and easy
to grep::

    shimtask phase=template uri=s3://.../task.pb bytes=1843 name=people type=sqlite

``logging`` is imported only when a level is set: a quiet execution never pays
for it. Values are URIs, names, sizes and durations, never inputs, outputs or
credentials.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from . import settings

if TYPE_CHECKING:
    import logging

LEVEL_VARIABLE = settings.LOG_LEVEL
LOGGER_NAME = "shimtask"


@functools.cache
def _logger() -> logging.Logger | None:
    level = settings.level(LEVEL_VARIABLE)  # an unknown name: INFO, with a warning
    if level is None:
        return None
    import logging

    number = int(level) if level.isdigit() else logging.getLevelName(level)
    if not isinstance(number, int):
        number = logging.INFO
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(number)
    if not logger.handlers:
        handler = logging.StreamHandler()  # stderr
        handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    return logger


def enable(level: str = "INFO") -> None:
    """Turn the phase lines on for this process (``--verbose``)."""
    os.environ[LEVEL_VARIABLE] = level
    _logger.cache_clear()


def enabled() -> bool:
    """Whether phase lines are printed; lets callers skip computing their fields."""
    logger = _logger()
    return logger is not None and logger.isEnabledFor(20)  # logging.INFO


def phase(label: str, /, **fields: Any) -> None:
    """One line: ``phase=<name>`` then the fields in the order given."""
    logger = _logger()
    if logger is None or not logger.isEnabledFor(20):
        return
    logger.info("phase=%s%s", label, "".join(f" {k}={_value(v)}" for k, v in fields.items()
                                            if v is not None))


def _value(value: Any) -> str:
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return text
