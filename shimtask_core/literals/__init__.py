"""The literal codec: Flyte literals <-> Python values, validated against declared types.

It knows nothing about registries, hooks or the CLI. For every ``LiteralType``
it builds, once, a *filler* (Python value -> fields of a ``Literal``, strict)
and a *decoder* (``Literal`` -> Python value); :class:`InterfaceCodec` applies
them to a template's whole interface and maps outputs by **name**, never by
protobuf map order. The type table is ``docs/literals.md``.

One concept per module, lowest first:

* ``base``: protobuf names, converter signatures, ``Mismatch``, ``got``;
* ``structs``: untyped dicts on the wire, a generic ``Struct`` (JSON) or msgpack;
* ``scalars``: the simple kinds' checks of Python values, fillers and decoders;
* ``timetext``: datetimes and durations as text, one grammar on every Python version;
* ``types``: the tables (``SIMPLE_KINDS``, ``EXTERNAL_KINDS``), ``describe``, union tags;
* ``pytypes``: Python types <-> literal types (``literal_type_of``, ``python_type_of``);
* ``encode`` / ``decode``: ``filler_for``, ``encoder_for`` / ``decoder_for``;
* ``codec``: ``InterfaceCodec``, a template's whole interface, by name;

and, each loaded when its kind is first met: ``unions`` (choosing a union's
variant), ``dataclass_fields`` (dataclass-typed STRUCTs, field by field),
``floatlist`` (lists of floats packed whole), ``external`` (loads the converters
``EXTERNAL_KINDS`` names), ``files`` (``File``, ``Directory``), ``datasets``
(``pyarrow.Table``) and ``parquet`` (the datasets' parquet writer and memory pool).

The names below are imported on first use (PEP 562, as ``shimtask_core`` does):
``from shimtask_core.literals import InterfaceCodec`` loads the codec and what it
needs, and ``import shimtask_core.literals.files`` loads no codec at all.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_dir, lazy_getattr

if TYPE_CHECKING:
    from .base import (
        INT64_MAX,
        INT64_MIN,
        JSON_SAFE_INT,
        MSGPACK,
        UINT64_MAX,
        Decoder,
        Encoder,
        Filler,
        Literal,
        LiteralMap,
        LiteralType,
        Mismatch,
        Normalizer,
        SimpleType,
        got,
        literal_kind,
    )
    from .codec import InterfaceCodec
    from .decode import decoder_for
    from .encode import encoder_for, filler_for
    from .pytypes import literal_type_of, python_type_of
    from .structs import dict_of, msgpack_dumps, msgpack_loads, struct_to_python
    from .types import (
        CACHE_KEY_METADATA,
        SERIALIZATION_FORMAT,
        describe,
        is_msgpack_struct,
        struct_type,
        union_tag,
    )

#: public name -> the module of this package that defines it. One line per name.
_LAZY = {
    "CACHE_KEY_METADATA": "types",
    "Decoder": "base",
    "decoder_for": "decode",
    "describe": "types",
    "dict_of": "structs",
    "Encoder": "base",
    "encoder_for": "encode",
    "Filler": "base",
    "filler_for": "encode",
    "got": "base",
    "INT64_MAX": "base",
    "INT64_MIN": "base",
    "InterfaceCodec": "codec",
    "is_msgpack_struct": "types",
    "JSON_SAFE_INT": "base",
    "Literal": "base",
    "literal_kind": "base",
    "literal_type_of": "pytypes",
    "LiteralMap": "base",
    "LiteralType": "base",
    "Mismatch": "base",
    "MSGPACK": "base",
    "msgpack_dumps": "structs",
    "msgpack_loads": "structs",
    "Normalizer": "base",
    "python_type_of": "pytypes",
    "SERIALIZATION_FORMAT": "types",
    "SimpleType": "base",
    "struct_to_python": "structs",
    "struct_type": "types",
    "UINT64_MAX": "base",
    "union_tag": "types",
}

__getattr__ = lazy_getattr(__name__, _LAZY, globals())
__dir__ = lazy_dir(_LAZY, globals())


__all__ = [
    "CACHE_KEY_METADATA",
    "INT64_MAX",
    "INT64_MIN",
    "JSON_SAFE_INT",
    "MSGPACK",
    "SERIALIZATION_FORMAT",
    "UINT64_MAX",
    "Decoder",
    "Encoder",
    "Filler",
    "InterfaceCodec",
    "Literal",
    "LiteralMap",
    "LiteralType",
    "Mismatch",
    "Normalizer",
    "SimpleType",
    "decoder_for",
    "describe",
    "dict_of",
    "encoder_for",
    "filler_for",
    "got",
    "is_msgpack_struct",
    "literal_kind",
    "literal_type_of",
    "msgpack_dumps",
    "msgpack_loads",
    "python_type_of",
    "struct_to_python",
    "struct_type",
    "union_tag",
]
