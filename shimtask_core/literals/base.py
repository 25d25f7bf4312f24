"""What every converter shares: the protobuf names, the converter signatures, Mismatch.

This is the bottom of the codec: it imports nothing else from it, so the converters
of blobs and datasets (``files``, ``datasets``) can build on it without reaching back
into the code that dispatches to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from flyteidl.core import literals_pb2, types_pb2

from ..errors import ValueTypeError

Literal = literals_pb2.Literal
LiteralMap = literals_pb2.LiteralMap
LiteralType = types_pb2.LiteralType
SimpleType = types_pb2.SimpleType

Encoder = Callable[[Any], "literals_pb2.Literal"]
Decoder = Callable[["literals_pb2.Literal"], Any]
#: Writes a Python value into an empty ``Literal`` (the form every encoder is built in:
#: filling nested messages in place avoids copying them into their parents).
Filler = Callable[[Any, "literals_pb2.Literal"], None]
#: Checks (and widens) a plain value of one dataclass field; raises Mismatch.
Normalizer = Callable[[Any], Any]

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
UINT64_MAX: Final = 2**64 - 1
JSON_SAFE_INT: Final = 2**53
#: The tag of a Binary literal holding msgpack data (flytekit >= 1.14's dicts and dataclasses).
MSGPACK: Final = "msgpack"


class Mismatch(ValueTypeError):
    """A value that does not fit its type, raised deep inside a nested value.

    It is a ``ValueTypeError`` (a USER error) whose variable is ``value`` plus the
    path inside it (``value[3]['a']``); :class:`~shimtask_core.literals.InterfaceCodec`
    re-raises it as a ``ValueTypeError`` naming the input or output. Converters of
    other modules (files, datasets) raise it too.
    """

    def __init__(self, expected: str, got: str) -> None:
        self.path: list[str] = []
        super().__init__("value", expected, got)

    def __str__(self) -> str:
        return f"value{''.join(self.path)}: expected {self.expected}, got {self.got}"


class LimitMismatch(Mismatch):
    """A value beyond a configured limit (:mod:`shimtask_core.limits`: its nesting depth, a
    collection's length), found deep inside it.

    It is not the value's type that is wrong, so no union variant or fallback may swallow
    it (they re-raise it); :class:`~shimtask_core.literals.InterfaceCodec` turns it into a
    ``LimitExceeded`` naming the variable, the limit and how to raise it. ``limit`` is a
    field of :class:`~shimtask_core.limits.Limits`.
    """

    def __init__(self, limit: str, value: int, maximum: int, *, at_least: bool = False) -> None:
        from ..limits import UNITS  # only when a limit is met

        self.limit = limit
        self.value = value
        self.maximum = maximum
        self.at_least = at_least
        unit = UNITS[limit]
        super().__init__(f"at most {maximum:,} {unit}",
                         f"{'more than ' if at_least else ''}{value:,} {unit}")


def got(value: Any) -> str:
    """A short description of a value for error messages: its type and a clipped repr.

    Executors return anything: a 5,000-deep list, a 200 MB string, an object whose
    ``repr`` raises. ``reprlib`` bounds the depth and the size it formats and survives a
    failing ``repr`` (a fuzzer found all three making error.pb a SYSTEM error).
    """
    import reprlib  # only for error messages

    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother, short.maxlong = 3, 50, 50, 50
    try:
        text = short.repr(value)
    except Exception:  # a container whose own methods raise (len, iteration)
        text = f"<{type(value).__name__} object>"
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def literal_kind(lit: literals_pb2.Literal) -> str:
    """What a literal holds, for error messages (``a string_value literal``, ``an
    integer literal``)."""
    kind = lit.WhichOneof("value")
    if kind == "scalar":
        scalar_kind = lit.scalar.WhichOneof("value")
        if scalar_kind == "primitive":
            return _a(f"{lit.scalar.primitive.WhichOneof('value')} literal")
        if scalar_kind == "binary":
            tag = lit.scalar.binary.tag
            return f"a binary literal (tag {tag!r})" if tag else "a binary literal"
        return _a(f"{scalar_kind} literal")
    return _a(f"{kind} literal") if kind else "an empty literal"


def _a(noun: str) -> str:
    """``noun`` with its indefinite article (the kinds are lower-case ASCII words)."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def is_dataframe_type(cls: type) -> bool:
    """Whether ``cls`` is ``pyarrow.Table`` or ``pandas.DataFrame``, without importing either."""
    root = cls.__module__.split(".")[0]
    return (root, cls.__name__) in (("pyarrow", "Table"), ("pandas", "DataFrame"))
