"""Lists of floats, packed and unpacked whole: the one shape big enough to matter.

A 100,000-float list costs 1.1 s in flytekit. Each element has one canonical
encoding of 15 bytes::

    0a 0d (Literal.scalar, 13 bytes) 0a 0b (Scalar.primitive, 11) 0a 09 (Primitive, 9)
    11 <8-byte little-endian double> (Primitive.float_value)

so a collection is built with one ``struct.pack`` and parsed by upb in C, and read
back with one ``struct.unpack`` after checking every element has exactly that layout.
"""

from __future__ import annotations

import functools
import struct as _struct
from typing import Any, Final

from flyteidl.core import literals_pb2

from .base import Decoder, Filler

_FLOAT_ITEM: Final = b"\x0a\x0d\x0a\x0b\x0a\x09\x11"
_FLOAT_ITEM_SIZE: Final = 15
#: Below this many elements the element-by-element path is as fast.
FAST_MIN: Final = 8
_CHUNK: Final = 4096
_PREFIX_COLUMNS: Final = tuple(bytes([b]) for b in _FLOAT_ITEM)

@functools.cache
def _chunk_struct() -> _struct.Struct:
    """The layout of ``_CHUNK`` elements; compiled on first use (it costs ~0.5 ms)."""
    return _struct.Struct("<" + "7xd" * _CHUNK)


_WIDENING_TYPES: Final = frozenset({float, int})


def float_list_filler(slow: Filler, most: int | None = None) -> Filler:
    """The filler of ``list[float]``: packed whole, else ``slow`` (element by element, and
    the one that refuses a list longer than ``most``)."""
    limit = most if most is not None else 1 << 62

    def fill(value: Any, target: literals_pb2.Literal) -> None:
        n = len(value) if type(value) in (list, tuple) else -1
        if FAST_MIN <= n <= limit:
            kinds = set(map(type, value))
            if kinds <= _WIDENING_TYPES:
                try:
                    data = pack_floats(value, n)
                except (OverflowError, _struct.error):  # an int beyond a double: named by slow
                    pass
                else:
                    target.collection.ParseFromString(data)
                    return
        slow(value, target)

    return fill


def float_list_decoder(slow: Decoder, most: int | None = None) -> Decoder:
    """The decoder of ``list[float]``: unpacked whole when canonical, else ``slow`` (which
    refuses a list longer than ``most``)."""
    limit = most if most is not None else 1 << 62

    def decode(lit: literals_pb2.Literal) -> Any:
        if lit.WhichOneof("value") == "collection":
            n = len(lit.collection.literals)
            if FAST_MIN <= n <= limit:
                values = unpack_floats(lit.collection.SerializeToString(), n)
                if values is not None:
                    return values
        return slow(lit)

    return decode


def pack_floats(values: Any, n: int) -> bytes:
    """The serialized LiteralCollection of ``n`` doubles (already checked to be floats)."""
    parts = []
    whole = n - n % _CHUNK
    for start in range(0, whole, _CHUNK):
        parts.append(_chunk_struct().pack(*values[start:start + _CHUNK]))
    if whole < n:
        parts.append(_struct.pack("<" + "7xd" * (n - whole), *values[whole:]))
    buf = bytearray(b"".join(parts))
    for offset, byte in enumerate(_PREFIX_COLUMNS):
        buf[offset::_FLOAT_ITEM_SIZE] = byte * n
    return bytes(buf)


def unpack_floats(data: bytes, n: int) -> list[float] | None:
    """The doubles of a serialized collection, or None unless every element is canonical."""
    if len(data) != n * _FLOAT_ITEM_SIZE:
        return None
    for offset, byte in enumerate(_PREFIX_COLUMNS):
        if data[offset::_FLOAT_ITEM_SIZE] != byte * n:
            return None
    out: list[float] = []
    whole = n - n % _CHUNK
    step = _CHUNK * _FLOAT_ITEM_SIZE
    for start in range(0, whole * _FLOAT_ITEM_SIZE, step):
        out.extend(_chunk_struct().unpack_from(data, start))
    if whole < n:
        out.extend(_struct.unpack_from("<" + "7xd" * (n - whole), data,
                                       whole * _FLOAT_ITEM_SIZE))
    return out
