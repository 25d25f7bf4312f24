"""How much one execution may read, build and write.

Hostile or broken input (a 10 GB ``inputs.pb``, a list nested 5,000 deep, an executor
returning a cyclic dict) must end as a USER error naming the limit and how to raise
it (:class:`~shimtask_core.errors.LimitExceeded`), never as memory exhaustion, a
``RecursionError`` or an ``outputs.pb`` that protobuf cannot read back.

=====================  ===============================  ==========  =========================
limit                  variable                         default     what it bounds
=====================  ===============================  ==========  =========================
``template_bytes``     ``SHIMTASK_MAX_TEMPLATE_BYTES``  64 MiB      the template file
``inputs_bytes``       ``SHIMTASK_MAX_INPUTS_BYTES``    1 GiB       ``inputs.pb``, and each
                                                                    offloaded input literal
``outputs_bytes``      ``SHIMTASK_MAX_OUTPUTS_BYTES``   1 GiB       ``outputs.pb``
``depth``              ``SHIMTASK_MAX_DEPTH``           30          nesting of a declared type
                                                                    or a value: each list,
                                                                    dict and union is a level
``collection``         ``SHIMTASK_MAX_COLLECTION``      10,000,000  items of one list or map
``timeout``            ``SHIMTASK_EXECUTION_TIMEOUT``   none        seconds one ``shimtask
                                                                    execute`` may take
=====================  ===============================  ==========  =========================

Why these defaults: Flyte offloads literals up to 1,000 MB, and protobuf cannot
serialize a message of 2 GiB or more; protobuf's Python reader (what a downstream
flytekit task uses) stops at 100 nested messages, and a value level costs at most 3 of
them, so 30 levels is the deepest value every reader takes back. The limits are read
from the environment (through :mod:`~shimtask_core.settings`) each time an execution
starts or a codec is built, so a pod's environment configures them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, final

from . import settings
from .errors import LimitExceeded

MIB: Final = 2**20
GIB: Final = 2**30

#: The environment variable of each limit.
VARIABLES: Final = {
    "template_bytes": settings.MAX_TEMPLATE_BYTES,
    "inputs_bytes": settings.MAX_INPUTS_BYTES,
    "outputs_bytes": settings.MAX_OUTPUTS_BYTES,
    "depth": settings.MAX_DEPTH,
    "collection": settings.MAX_COLLECTION,
    "timeout": settings.EXECUTION_TIMEOUT,
}
UNITS: Final = {"template_bytes": "bytes", "inputs_bytes": "bytes", "outputs_bytes": "bytes",
                "depth": "levels", "collection": "items", "timeout": "seconds"}


@final
class Limits:
    """The limits of one execution (the defaults are the table's); immutable. A class
    with slots: a dataclass needs ``dataclasses`` (milliseconds of every pod's start),
    a ``typing.NamedTuple`` costs ~0.2 ms to build at import."""

    __slots__ = ("collection", "depth", "inputs_bytes", "outputs_bytes", "template_bytes",
                 "timeout")

    template_bytes: int
    inputs_bytes: int
    outputs_bytes: int
    depth: int
    collection: int
    timeout: float | None

    def __init__(self, template_bytes: int = 64 * MIB, inputs_bytes: int = GIB,
                 outputs_bytes: int = GIB, depth: int = 30, collection: int = 10_000_000,
                 timeout: float | None = None) -> None:
        set_ = object.__setattr__
        set_(self, "template_bytes", template_bytes)
        set_(self, "inputs_bytes", inputs_bytes)
        set_(self, "outputs_bytes", outputs_bytes)
        set_(self, "depth", depth)
        set_(self, "collection", collection)
        set_(self, "timeout", timeout)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Limits is immutable: cannot set {name!r}")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in VARIABLES)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Limits):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "Limits(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in VARIABLES) + ")"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The limits the environment sets; a malformed value warns and keeps the default."""
        default = cls()
        return cls(
            template_bytes=settings.size(VARIABLES["template_bytes"], default.template_bytes,
                                         environ),
            inputs_bytes=settings.size(VARIABLES["inputs_bytes"], default.inputs_bytes,
                                       environ),
            outputs_bytes=settings.size(VARIABLES["outputs_bytes"], default.outputs_bytes,
                                        environ),
            depth=settings.count(VARIABLES["depth"], default.depth, environ),
            collection=settings.count(VARIABLES["collection"], default.collection, environ),
            timeout=settings.seconds(VARIABLES["timeout"], environ),
        )

    def exceeded(self, limit: str, subject: str, value: int, *, at_least: bool = False
                 ) -> LimitExceeded:
        """The error for ``subject`` (``"inputs.pb s3://..."``) being ``value`` against
        ``limit`` (a field name)."""
        maximum = getattr(self, limit)
        return LimitExceeded(subject, limit, value, int(maximum), variable=VARIABLES[limit],
                             unit=UNITS[limit], at_least=at_least)

    def check_size(self, limit: str, subject: str, data: bytes) -> bytes:
        """``data`` as read with ``storage.read_bytes(uri, limit=...)`` (at most one byte
        more than the limit): the data, or the error saying it is too big."""
        maximum = getattr(self, limit)
        if len(data) > maximum:
            raise self.exceeded(limit, subject, len(data), at_least=True)
        return data


def current(environ: Mapping[str, str] | None = None) -> Limits:
    """The limits in force now (the environment's; a few dictionary look-ups)."""
    return Limits.from_env(environ)


__all__ = ["GIB", "MIB", "UNITS", "VARIABLES", "Limits", "current"]
