"""Structure-aware fuzz cases for the container contract, and the property they must keep.

A case is what a Flyte pod hands ``shimtask execute``: template bytes (``.pb`` or
protobuf-JSON) and ``inputs.pb`` bytes. The strategies build real flyteidl
messages: an interface of nested types, literal maps *mutated against it* (wrong
kinds, missing and extra inputs, deep nesting, huge collections, NaN and
infinities, out-of-range timestamps, msgpack garbage, union tags that match no
variant, offloaded literals that point anywhere), ``custom`` fields of the wrong
type or missing, and then, sometimes, byte-level damage (flips, truncation,
insertion, invalid UTF-8, a BOM).

The property (:func:`check_result`): exactly one of ``outputs.pb`` / ``error.pb``;
an ``error.pb`` that parses and names a USER or SYSTEM code of the error table,
never ``SYSTEM:<ExceptionName>`` (a bug in shimtask); nothing half-written; nothing
on stderr but the CLI's one line. The suite runs it briefly (``tests/test_fuzz.py``);
``fuzz/fuzz_execute.py`` runs it for hours under atheris.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flyteidl.core import errors_pb2, interface_pb2, literals_pb2, tasks_pb2, types_pb2
from google.protobuf import json_format, struct_pb2
from hypothesis import strategies as st

from shimtask_core import ShimTaskExecutor
from shimtask_core.limits import Limits

SimpleType = types_pb2.SimpleType
LiteralType = types_pb2.LiteralType
Literal = literals_pb2.Literal

SIMPLES = (SimpleType.INTEGER, SimpleType.FLOAT, SimpleType.STRING, SimpleType.BOOLEAN,
           SimpleType.DATETIME, SimpleType.DURATION, SimpleType.NONE, SimpleType.STRUCT,
           SimpleType.BINARY)
#: Timestamp seconds Flyte (and Python's datetime) can hold: years 1 to 9999.
MIN_SECONDS, MAX_SECONDS = -62135596800, 253402300799


class Echo(ShimTaskExecutor):  # type: ignore[type-arg]
    """Returns its inputs as the outputs of the same names (the interface mirrors them):
    every decoded value goes back through the encoder."""

    def execute_from_model(self, tt: Any, /, **inputs: Any) -> Any:
        names = list(tt.interface.outputs.variables)
        if not names:
            return None
        if len(names) == 1:
            return inputs.get(names[0])
        return {name: inputs.get(name) for name in names}


# --- types ----------------------------------------------------------------------------

_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                 max_size=8)
_input_names = st.one_of(*[st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)] * 4,
                         st.sampled_from(["self", "tt", "kwargs", "registry", "o0", "_", "x y"]),
                         _names)


def _simple() -> st.SearchStrategy[LiteralType]:
    return st.sampled_from(SIMPLES).map(lambda s: LiteralType(simple=s))


def _enum() -> st.SearchStrategy[LiteralType]:
    return st.lists(_names, min_size=1, max_size=4, unique=True).map(
        lambda values: LiteralType(enum_type=types_pb2.EnumType(values=values)))


def _blob() -> st.SearchStrategy[LiteralType]:
    return st.sampled_from([types_pb2.BlobType.SINGLE, types_pb2.BlobType.MULTIPART]).map(
        lambda d: LiteralType(blob=types_pb2.BlobType(format="", dimensionality=d)))


def _collection(children: st.SearchStrategy[LiteralType]) -> st.SearchStrategy[LiteralType]:
    return children.map(lambda t: LiteralType(collection_type=t))


def _map(children: st.SearchStrategy[LiteralType]) -> st.SearchStrategy[LiteralType]:
    return children.map(lambda t: LiteralType(map_value_type=t))


@st.composite
def _union(draw: st.DrawFn, children: st.SearchStrategy[LiteralType]) -> LiteralType:
    variants = draw(st.lists(children, min_size=1, max_size=4))
    tagged = draw(st.booleans())
    union = types_pb2.UnionType()
    for index, variant in enumerate(variants):
        added = union.variants.add()
        added.CopyFrom(variant)
        if tagged:
            added.structure.tag = draw(st.sampled_from([f"t{index}", "t0", "", "int"]))
    return LiteralType(union_type=union)


@functools.cache  # building (and validating) a recursive strategy costs more than a draw
def literal_types(max_leaves: int = 6) -> st.SearchStrategy[LiteralType]:
    """Declared types: simple ones, enums and blobs, nested in lists, maps and unions."""
    leaves = st.one_of(_simple(), _simple(), _enum(), _blob())
    return st.recursive(leaves, lambda children: st.one_of(
        _collection(children), _map(children), _union(children)), max_leaves=max_leaves)


def _nesting(lt: LiteralType) -> int:
    """Levels of lists, maps, unions and STRUCTs (what ``SHIMTASK_MAX_DEPTH`` bounds)."""
    kind = lt.WhichOneof("type")
    if kind == "collection_type":
        return 1 + _nesting(lt.collection_type)
    if kind == "map_value_type":
        return 1 + _nesting(lt.map_value_type)
    if kind == "union_type":
        return 1 + max(_nesting(v) for v in lt.union_type.variants)
    return 1 if kind == "simple" and lt.simple == SimpleType.STRUCT else 0


def deep_type(depth: int) -> LiteralType:
    """``list[list[...[int]]]`` ``depth`` levels deep."""
    lt = LiteralType(simple=SimpleType.INTEGER)
    for _ in range(depth):
        lt = LiteralType(collection_type=lt)
    return lt


# --- literals ---------------------------------------------------------------------------

_floats = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308]))
_int64 = st.integers(-(2**63), 2**63 - 1)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_seconds = st.one_of(st.integers(MIN_SECONDS, MAX_SECONDS),
                     st.integers(-(2**63), 2**63 - 1),
                     st.sampled_from([MIN_SECONDS - 1, MAX_SECONDS + 1, 0, -1]))
_nanos = st.one_of(st.integers(0, 999_999_999), st.integers(-(2**31), 2**31 - 1))

_json = st.recursive(
    st.one_of(st.none(), st.booleans(), _floats, _int64.map(float), _text),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(_text, inner, max_size=4)),
    max_leaves=10)


def _struct_value(value: Any) -> struct_pb2.Value:
    out = struct_pb2.Value()
    if value is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, float):
        out.number_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, list):
        out.list_value.values.extend(_struct_value(v) for v in value)
    else:
        for key, item in value.items():
            out.struct_value.fields[key].CopyFrom(_struct_value(item))
    return out


@functools.cache
def _msgpack_bytes() -> st.SearchStrategy[bytes]:
    import msgpack

    valid = st.recursive(
        st.one_of(st.none(), st.booleans(), _int64, _floats, _text, st.binary(max_size=8)),
        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                st.dictionaries(st.one_of(_text, _int64), inner, max_size=4)),
        max_leaves=10).map(lambda v: msgpack.packb(v, use_bin_type=True))
    deep = st.integers(1, 3000).map(lambda n: b"\x91" * n + b"\x01")  # [[[...1]]]
    return st.one_of(valid, st.binary(max_size=24), deep)


@st.composite
def primitive_literal(draw: st.DrawFn) -> Literal:
    lit = Literal()
    primitive = lit.scalar.primitive
    kind = draw(st.sampled_from(["integer", "float_value", "string_value", "boolean",
                                 "datetime", "duration"]))
    if kind == "integer":
        primitive.integer = draw(_int64)
    elif kind == "float_value":
        primitive.float_value = draw(_floats)
    elif kind == "string_value":
        primitive.string_value = draw(_text)
    elif kind == "boolean":
        primitive.boolean = draw(st.booleans())
    elif kind == "datetime":
        primitive.datetime.seconds = draw(_seconds)
        primitive.datetime.nanos = draw(_nanos)
    else:
        primitive.duration.seconds = draw(_seconds)
        primitive.duration.nanos = draw(_nanos)
    return lit


@st.composite
def scalar_literal(draw: st.DrawFn) -> Literal:
    """Any scalar, of any kind: what a wrong-kind input looks like."""
    kind = draw(st.sampled_from(["primitive", "primitive", "none", "generic", "binary", "blob",
                                 "error", "empty", "offloaded", "union"]))
    if kind == "primitive":
        return draw(primitive_literal())
    lit = Literal()
    if kind == "none":
        lit.scalar.none_type.SetInParent()
    elif kind == "generic":
        value = draw(st.dictionaries(_text, _json, max_size=4))
        lit.scalar.generic.CopyFrom(_struct_value(value).struct_value)
        lit.scalar.generic.SetInParent()
    elif kind == "binary":
        lit.scalar.binary.value = draw(_msgpack_bytes())
        lit.scalar.binary.tag = draw(st.sampled_from(["msgpack", "", "json", "msgpack"]))
    elif kind == "blob":
        lit.scalar.blob.uri = draw(_uris())
        lit.scalar.blob.metadata.type.dimensionality = draw(st.sampled_from([0, 1]))
    elif kind == "error":
        lit.scalar.error.message = draw(_text)
    elif kind == "offloaded":
        lit.offloaded_metadata.uri = draw(_uris())
        lit.offloaded_metadata.size_bytes = draw(st.integers(0, 2**40))
    elif kind == "union":
        lit.scalar.union.value.CopyFrom(draw(primitive_literal()))
        lit.scalar.union.type.CopyFrom(draw(literal_types(3)))
    return lit


@functools.cache
def _uris() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["", "/", "/nonexistent/file.txt", "/etc", "file:///nonexistent",
                         "s3://bucket/key", "s3://", "memory://x", "nope://x/y", "../..",
                         "/dev/null", "file://localhost/tmp", "%", "file:%zz",
                         "gs://b/k", "/proc/self/environ"]),
        _text)


@functools.cache
def wild_literal(max_leaves: int = 6) -> st.SearchStrategy[Literal]:
    """A literal of any shape, whatever the declared type."""

    def collection(children: st.SearchStrategy[Literal]) -> st.SearchStrategy[Literal]:
        def build(items: list[Literal]) -> Literal:
            lit = Literal()
            lit.collection.SetInParent()
            lit.collection.literals.extend(items)
            return lit

        return st.lists(children, max_size=4).map(build)

    def mapping(children: st.SearchStrategy[Literal]) -> st.SearchStrategy[Literal]:
        def build(items: dict[str, Literal]) -> Literal:
            lit = Literal()
            lit.map.SetInParent()
            for key, item in items.items():
                lit.map.literals[key].CopyFrom(item)
            return lit

        return st.dictionaries(_text, children, max_size=3).map(build)

    return st.recursive(scalar_literal(), lambda children: st.one_of(
        collection(children), mapping(children)), max_leaves=max_leaves)


def deep_literal(depth: int) -> Literal:
    """``[[[...1]]]`` ``depth`` collections deep."""
    top = lit = Literal()
    for _ in range(depth):
        lit = lit.collection.literals.add()
    lit.scalar.primitive.integer = 1
    return top


@st.composite
def literal_for(draw: st.DrawFn, lt: LiteralType, wild: float = 0.03,
                huge: bool = True, strict: bool = False) -> Literal:
    """A literal for ``lt``: usually of its shape, sometimes anything at all (at any level).

    ``huge``: this level may be a collection of thousands (the top level of an input only,
    so that a case stays a few megabytes and a second or less). ``strict``: a literal of
    the declared shape throughout, with values Flyte can hold (NaN and infinities too)."""
    if strict:
        return draw(valid_literal(lt, huge))
    if draw(st.floats(0, 1)) < wild:
        return draw(wild_literal(4))
    lit = Literal()
    kind = lt.WhichOneof("type")
    if kind == "simple":
        simple = lt.simple
        primitive = lit.scalar.primitive
        if simple == SimpleType.INTEGER:
            choice = draw(st.integers(0, 3))
            if choice == 0:
                primitive.float_value = draw(_floats)  # the console sends numbers as floats
            elif choice == 1:
                lit.scalar.binary.value = draw(_msgpack_bytes())
                lit.scalar.binary.tag = "msgpack"
            else:
                primitive.integer = draw(_int64)
        elif simple == SimpleType.FLOAT:
            if draw(st.booleans()):
                primitive.float_value = draw(_floats)
            else:
                primitive.integer = draw(_int64)
        elif simple == SimpleType.STRING:
            primitive.string_value = draw(_text)
        elif simple == SimpleType.BOOLEAN:
            primitive.boolean = draw(st.booleans())
        elif simple == SimpleType.DATETIME:
            primitive.datetime.seconds = draw(_seconds)
            primitive.datetime.nanos = draw(_nanos)
        elif simple == SimpleType.DURATION:
            primitive.duration.seconds = draw(_seconds)
            primitive.duration.nanos = draw(_nanos)
        elif simple == SimpleType.NONE:
            lit.scalar.none_type.SetInParent()
        elif simple == SimpleType.STRUCT:
            if draw(st.booleans()):
                value = draw(st.dictionaries(_text, _json, max_size=4))
                lit.scalar.generic.CopyFrom(_struct_value(value).struct_value)
                lit.scalar.generic.SetInParent()
            else:
                lit.scalar.binary.value = draw(_msgpack_bytes())
                lit.scalar.binary.tag = "msgpack"
        else:  # BINARY
            lit.scalar.binary.value = draw(_msgpack_bytes())
            lit.scalar.binary.tag = draw(st.sampled_from(["", "msgpack"]))
        return lit
    if kind == "collection_type":
        lit.collection.SetInParent()
        sizes = st.integers(0, 4)
        if huge:
            sizes = st.one_of(*[sizes] * 12, st.sampled_from([1000, 20_000]))
        size = draw(sizes)
        if size > 4:  # huge: one small element, repeated (distinct ones would be slow)
            lit.collection.literals.extend([minimal_literal(lt.collection_type)] * size)
        else:
            lit.collection.literals.extend(
                draw(literal_for(lt.collection_type, wild, False)) for _ in range(size))
        return lit
    if kind == "map_value_type":
        lit.map.SetInParent()
        for key in draw(st.lists(_text, max_size=3, unique=True)):
            lit.map.literals[key].CopyFrom(draw(literal_for(lt.map_value_type, wild, False)))
        return lit
    if kind == "union_type":
        variants = list(lt.union_type.variants)
        variant = draw(st.sampled_from(variants))
        union = lit.scalar.union
        union.value.CopyFrom(draw(literal_for(variant, wild, False)))
        stored = draw(st.sampled_from(["same", "same", "other", "retagged", "bare"]))
        if stored == "same":
            union.type.CopyFrom(variant)
        elif stored == "other":  # a type that may match no variant
            union.type.CopyFrom(draw(literal_types(3)))
        elif stored == "retagged":
            union.type.CopyFrom(variant)
            union.type.structure.tag = draw(_text)
        else:  # no union wrapper: the bare value, as older flytekit sends
            return union.value
        return lit
    if kind == "enum_type":
        values = list(lt.enum_type.values)
        lit.scalar.primitive.string_value = draw(st.one_of(st.sampled_from(values), _text))
        return lit
    if kind == "blob":
        blob = lit.scalar.blob
        blob.uri = draw(_uris())
        blob.metadata.type.dimensionality = draw(st.one_of(
            st.just(lt.blob.dimensionality), st.sampled_from([0, 1])))
        return lit
    return draw(wild_literal(3))


def minimal_literal(lt: LiteralType) -> Literal:
    """The smallest valid literal of ``lt`` (an empty list, the first variant's...): the
    element a huge collection repeats, so that its size is its length, not a product."""
    lit = Literal()
    kind = lt.WhichOneof("type")
    if kind == "collection_type":
        lit.collection.SetInParent()
    elif kind == "map_value_type":
        lit.map.SetInParent()
    elif kind == "union_type":
        variant = lt.union_type.variants[0]
        lit.scalar.union.value.CopyFrom(minimal_literal(variant))
        lit.scalar.union.type.CopyFrom(variant)
    elif kind == "enum_type":
        lit.scalar.primitive.string_value = lt.enum_type.values[0]
    elif kind == "blob":
        lit.scalar.blob.uri = "s3://bucket/key"
        lit.scalar.blob.metadata.type.CopyFrom(lt.blob)
    elif lt.simple == SimpleType.NONE:
        lit.scalar.none_type.SetInParent()
    elif lt.simple == SimpleType.STRUCT:
        lit.scalar.generic.SetInParent()
    elif lt.simple == SimpleType.BINARY:
        lit.scalar.binary.SetInParent()
    elif lt.simple == SimpleType.STRING:
        lit.scalar.primitive.string_value = ""
    elif lt.simple == SimpleType.FLOAT:
        lit.scalar.primitive.float_value = 0.5
    elif lt.simple == SimpleType.BOOLEAN:
        lit.scalar.primitive.boolean = True
    elif lt.simple == SimpleType.DATETIME:
        lit.scalar.primitive.datetime.seconds = 1
    elif lt.simple == SimpleType.DURATION:
        lit.scalar.primitive.duration.seconds = 1
    else:
        lit.scalar.primitive.integer = 7
    return lit


_valid_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
              st.integers(-(2**53), 2**53).map(float), _text),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(_text, inner, max_size=4)),
    max_leaves=10)


#: Past this many levels of a valid literal its collections and maps are empty: a full
#: literal of ``deep_type(95)`` is ~190 messages deep, more than protobuf parses (100).
VALUE_DEPTH = 40


@st.composite
def valid_literal(draw: st.DrawFn, lt: LiteralType, huge: bool = True,
                  depth: int = 0) -> Literal:
    """A literal of ``lt``'s shape whose every value fits: the encoder then runs as well."""
    lit = Literal()
    kind = lt.WhichOneof("type")
    if kind == "simple":
        simple, primitive = lt.simple, lit.scalar.primitive
        if simple == SimpleType.INTEGER:
            primitive.integer = draw(_int64)
        elif simple == SimpleType.FLOAT:
            primitive.float_value = draw(_floats)
        elif simple == SimpleType.STRING:
            primitive.string_value = draw(_text)
        elif simple == SimpleType.BOOLEAN:
            primitive.boolean = draw(st.booleans())
        elif simple == SimpleType.DATETIME:
            primitive.datetime.seconds = draw(st.integers(MIN_SECONDS, MAX_SECONDS))
            primitive.datetime.nanos = draw(st.integers(0, 999_999_999))
        elif simple == SimpleType.DURATION:
            primitive.duration.seconds = draw(st.integers(-315_576_000_000, 315_576_000_000))
        elif simple == SimpleType.NONE:
            lit.scalar.none_type.SetInParent()
        elif simple == SimpleType.STRUCT:
            value = draw(st.dictionaries(_text, _valid_json, max_size=4))
            lit.scalar.generic.CopyFrom(_struct_value(value).struct_value)
            lit.scalar.generic.SetInParent()
        else:
            lit.scalar.binary.value = draw(st.binary(max_size=16))
            lit.scalar.binary.SetInParent()
        return lit
    if kind == "collection_type":
        lit.collection.SetInParent()
        size = 0 if depth >= VALUE_DEPTH else draw(st.integers(0, 4) if not huge else st.one_of(
            *[st.integers(0, 4)] * 12, st.sampled_from([1000, 20_000])))
        if size > 4:
            lit.collection.literals.extend([minimal_literal(lt.collection_type)] * size)
        else:
            lit.collection.literals.extend(
                draw(valid_literal(lt.collection_type, False, depth + 1)) for _ in range(size))
        return lit
    if kind == "map_value_type":
        lit.map.SetInParent()
        keys = [] if depth >= VALUE_DEPTH else draw(st.lists(_text, max_size=3, unique=True))
        for key in keys:
            lit.map.literals[key].CopyFrom(draw(valid_literal(lt.map_value_type, False,
                                                              depth + 1)))
        return lit
    if kind == "union_type":
        variant = draw(st.sampled_from(list(lt.union_type.variants)))
        lit.scalar.union.value.CopyFrom(draw(valid_literal(variant, False, depth + 1)))
        lit.scalar.union.type.CopyFrom(variant)
        return lit
    if kind == "enum_type":
        lit.scalar.primitive.string_value = draw(st.sampled_from(list(lt.enum_type.values)))
        return lit
    if kind == "blob":  # remote: an output URI written as it is, nothing to copy
        lit.scalar.blob.uri = "s3://bucket/" + draw(st.from_regex(r"[a-z0-9]{1,8}",
                                                                  fullmatch=True))
        lit.scalar.blob.metadata.type.CopyFrom(lt.blob)
        return lit
    raise AssertionError(f"no valid literal for {lt}")


# --- templates and inputs -----------------------------------------------------------------


@dataclass
class Case:
    """One execution's files, and how they were made (hypothesis shows it on failure)."""

    template: bytes
    inputs: bytes
    notes: list[str]
    #: nothing was damaged or mutated: the execution must succeed
    expect_ok: bool = False

    def write(self, folder: Path) -> tuple[Path, Path]:
        template, inputs = folder / "task.pb", folder / "inputs.pb"
        template.write_bytes(self.template)
        inputs.write_bytes(self.inputs)
        return template, inputs


@st.composite
def interfaces(draw: st.DrawFn) -> dict[str, LiteralType]:
    names = draw(st.lists(_input_names, min_size=0, max_size=4, unique=True))
    types = {name: draw(literal_types()) for name in names}
    if names and draw(st.integers(0, 15)) == 0:
        types[names[0]] = deep_type(draw(st.sampled_from([20, 31, 40, 60, 95])))
    return types


@st.composite
def customs(draw: st.DrawFn, executor: str) -> struct_pb2.Struct | None:
    """``custom``: usually naming the executor, sometimes missing, of the wrong type, or
    naming something that is not installed; with extra keys of any JSON type."""
    choice = draw(st.integers(0, 9))
    body: dict[str, Any] = {}
    if choice <= 5:
        body["executor_type"] = executor
    elif choice == 6:
        body["executor_type"] = draw(st.one_of(_json, st.sampled_from(
            ["", "os:system", "subprocess:run", "shimtask_core.cli:main", "echo ", "ECHO"])))
    elif choice == 7:
        return None  # no custom at all: the template's type names the executor
    body.update(draw(st.dictionaries(_text, _json, max_size=3)))
    struct = struct_pb2.Struct()
    for key, value in body.items():
        struct.fields[key].CopyFrom(_struct_value(value if not isinstance(value, int)
                                                  or isinstance(value, bool)
                                                  else float(value)))
    return struct


def template_message(types: dict[str, LiteralType], executor: str,
                     custom: struct_pb2.Struct | None, task_type: str,
                     version: int) -> tasks_pb2.TaskTemplate:
    tt = tasks_pb2.TaskTemplate()
    tt.id.name = "fuzz"
    tt.type = task_type
    tt.task_type_version = version
    for name, lt in types.items():
        tt.interface.inputs.variables[name].CopyFrom(interface_pb2.Variable(type=lt))
        tt.interface.outputs.variables[name].CopyFrom(interface_pb2.Variable(type=lt))
    if custom is not None:
        tt.custom.CopyFrom(custom)
    return tt


@st.composite
def literal_maps(draw: st.DrawFn, types: dict[str, LiteralType]
                 ) -> tuple[literals_pb2.LiteralMap, bool]:
    """Inputs for ``types``, and whether they are all valid. Each is usually present and of
    its shape; sometimes missing, sometimes joined by inputs nobody declared, sometimes
    absurdly deep; a third of the maps are valid throughout."""
    lm = literals_pb2.LiteralMap()
    strict = draw(st.integers(0, 2)) == 0
    for name, lt in types.items():
        if not strict and draw(st.integers(0, 11)) == 0:
            continue  # missing
        lm.literals[name].CopyFrom(draw(literal_for(lt, strict=strict)))
    if strict:
        return lm, True
    if draw(st.integers(0, 9)) == 0:
        for name in draw(st.lists(_input_names, max_size=2)):
            if name not in lm.literals:
                lm.literals[name].CopyFrom(draw(wild_literal(3)))
    if types and draw(st.integers(0, 15)) == 0:
        name = draw(st.sampled_from(sorted(types)))
        lm.literals[name].CopyFrom(deep_literal(draw(st.sampled_from([30, 45, 48, 60]))))
    return lm, False


@st.composite
def damaged(draw: st.DrawFn, data: bytes, text: bool) -> tuple[bytes, str]:
    """``data``, mostly intact; sometimes flipped, cut, extended or given bad UTF-8."""
    harms = ["flip", "truncate", "insert", "utf8", "empty", "garbage"]
    how = draw(st.sampled_from(["intact"] * 14 + harms + (["bom", "deep"] if text else [])))
    if how == "intact" or (not data and how in ("flip", "truncate", "utf8")):
        return data, "intact"
    if how == "empty":
        return b"", how
    if how == "garbage":
        return draw(st.binary(max_size=64)), how
    if how == "bom":
        return b"\xef\xbb\xbf" + data, how
    if how == "deep":  # JSON nested far beyond what protobuf (or json's recursion) reads
        depth = draw(st.sampled_from([101, 5000, 100_000]))
        opener = draw(st.sampled_from([b"[", b'{"a":']))
        return b'{"custom": ' + opener * depth, how
    buf = bytearray(data)
    if how == "flip":
        for _ in range(draw(st.integers(1, 4))):
            index = draw(st.integers(0, len(buf) - 1))
            buf[index] ^= 1 << draw(st.integers(0, 7))
    elif how == "truncate":
        del buf[draw(st.integers(0, len(buf) - 1)):]
    elif how == "insert":
        index = draw(st.integers(0, len(buf)))
        buf[index:index] = draw(st.binary(min_size=1, max_size=8))
    else:  # utf8: an invalid sequence where a string (or JSON text) may be
        index = draw(st.integers(0, len(buf) - 1))
        buf[index:index + 1] = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80",
                                                     b"\xf8\x88\x80\x80\x80"]))
    return bytes(buf), how


@st.composite
def cases(draw: st.DrawFn, executor: str = "echo") -> Case:
    """A template and its inputs for the mirrored-interface ``executor``, mutated."""
    types = draw(interfaces())
    custom = draw(customs(executor))
    task_type = draw(st.sampled_from([executor, executor, "", "python-task", "sqlite"]))
    tt = template_message(types, executor, custom, task_type,
                          draw(st.sampled_from([0, 0, 1, -1, 2**31 - 1])))
    literal_inputs, valid = draw(literal_maps(types))
    inputs = literal_inputs.SerializeToString()
    as_json = draw(st.booleans())
    template = tt.SerializeToString()
    if as_json:
        try:
            template = json_format.MessageToJson(tt).encode()
        except json_format.SerializeToJsonError:  # NaN in custom: JSON cannot hold it
            as_json = False
    template, template_damage = draw(damaged(template, as_json))
    inputs, inputs_damage = draw(damaged(inputs, False))
    notes = [f"template {'json' if as_json else 'pb'} {template_damage}",
             f"inputs {inputs_damage}", f"inputs declared: {sorted(types)}"]
    named = (custom.fields["executor_type"].string_value == executor
             if custom is not None and "executor_type" in custom.fields
             else task_type == executor)
    within_limits = all(_nesting(lt) <= Limits().depth for lt in types.values())
    expect_ok = (valid and named and template_damage == inputs_damage == "intact"
                 and tt.task_type_version >= 0 and within_limits)
    return Case(template, inputs, notes, expect_ok)


# --- the property -------------------------------------------------------------------------

#: The codes error.pb may carry: the error table's (a ``SYSTEM:<Name>`` code is a bug).
def allowed_codes() -> set[str]:
    from shimtask_core.errors import ERROR_KINDS

    return {getattr(cls, "code", cls.__name__) for cls in ERROR_KINDS}


def check_result(out: Path, *, ok: bool | None = None, stderr: str = "",
                 allowed: set[str] | None = None) -> errors_pb2.ContainerError | None:
    """The contract's property for one finished execution under ``out``.

    Returns the error (None on success). ``ok`` (when known, from the exit status or
    ``ExecutionResult``) must agree with what was written; ``stderr`` must carry no
    traceback.
    """
    names = sorted(p.name for p in out.iterdir()) if out.exists() else []
    results = [n for n in names if n in ("outputs.pb", "error.pb")]
    assert len(results) == 1, f"expected exactly one result file, found {names}"
    leftovers = [n for n in names if n.startswith(".shimtask-")]
    assert not leftovers, f"half-written files left behind: {leftovers}"
    assert "Traceback (most recent call last)" not in stderr, stderr
    if results == ["outputs.pb"]:
        assert ok in (None, True), "outputs.pb written but the execution says it failed"
        outputs = literals_pb2.LiteralMap()
        outputs.ParseFromString((out / "outputs.pb").read_bytes())
        return None
    assert ok in (None, False), "error.pb written but the execution says it succeeded"
    document = errors_pb2.ErrorDocument()
    document.ParseFromString((out / "error.pb").read_bytes())
    error = document.error
    codes = allowed if allowed is not None else allowed_codes()
    assert error.code in codes, f"error.pb code {error.code!r} (a bug):\n{error.message}"
    assert error.message, "error.pb without a message"
    return error


def run_in_process(case: Case, folder: Path, registry: Any,
                   run: Callable[..., Any] | None = None) -> errors_pb2.ContainerError | None:
    """Write ``case`` under ``folder``, run ``runtime.execute`` on it and check it."""
    import contextlib
    import io

    from shimtask_core import runtime

    folder.mkdir(parents=True, exist_ok=True)
    template, inputs = case.write(folder)
    out = folder / "out"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        result = (run or runtime.execute)(inputs=str(inputs), output_prefix=str(out),
                                          template=str(template), registry=registry)
    assert result.written, result.write_error
    error = check_result(out, ok=result.ok, stderr=stderr.getvalue())
    if case.expect_ok:
        assert error is None, f"valid inputs failed: {error.code}: {error.message}"
    return error


def environment_is_clean() -> bool:
    """No ``SHIMTASK_*`` limit or policy leaks into a fuzz run from the shell."""
    return not any(k.startswith("SHIMTASK_MAX") for k in os.environ)


# --- outputs: what an executor may return -------------------------------------------------


class Returns(ShimTaskExecutor):  # type: ignore[type-arg]
    """Returns whatever the case put in ``value``: the encoder meets any Python value."""

    value: Any = None

    def execute_from_model(self, tt: Any, /, **inputs: Any) -> Any:
        return type(self).value


def _cyclic_list() -> list[Any]:
    items: list[Any] = [1]
    items.append(items)
    return items


def _cyclic_dict() -> dict[str, Any]:
    items: dict[str, Any] = {"a": 1}
    items["self"] = items
    return items


def _deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _deep_dict(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


class _Weird:
    """An object whose ``repr`` raises while an execution runs (hypothesis needs it)."""

    armed = False

    def __repr__(self) -> str:
        if _Weird.armed:
            raise RuntimeError("a repr that raises")
        return "_Weird()"


class _BadPath(os.PathLike):  # type: ignore[type-arg]
    def __fspath__(self) -> Any:
        return 42


def _python_leaves() -> st.SearchStrategy[Any]:
    import datetime as dt

    zones = st.sampled_from([None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=14)),
                             dt.timezone(dt.timedelta(hours=-12, minutes=-59))])
    return st.one_of(
        st.none(), st.booleans(), st.integers(), _floats, _text, st.binary(max_size=8),
        st.builds(lambda d, z: d.replace(tzinfo=z), st.datetimes(), zones),
        st.timedeltas(), st.sampled_from([dt.date(2024, 1, 1), dt.time(1, 2), object(),
                                          "/nonexistent/file", "s3://bucket/key", {1, 2},
                                          frozenset(), 1j, range(3), b"\xff" * 3,
                                          bytearray(b"ab"), NotImplemented, Ellipsis, type,
                                          len]),
        st.sampled_from(["cyclic list", "cyclic dict", "deep list", "deep dict",
                         "huge str", "huge list", "weird", "bad path", "iterator",
                         "generator", "memoryview"]).map(_Special))


@dataclass(frozen=True)
class _Special:
    """A hostile value by name; built only when the case runs (hypothesis prints its cases,
    and a 5,000-deep dict would exhaust hypothesis's own recursion)."""

    name: str


def _materialized(value: Any) -> Any:
    if isinstance(value, _Special):
        return _special(value.name)
    if isinstance(value, list):
        return [_materialized(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_materialized(v) for v in value)
    if isinstance(value, dict):
        return {k: _materialized(v) for k, v in value.items()}
    return value


def _special(name: str) -> Any:
    if name == "cyclic list":
        return _cyclic_list()
    if name == "cyclic dict":
        return _cyclic_dict()
    if name == "deep list":
        return _deep_list(5000)
    if name == "deep dict":
        return _deep_dict(5000)
    if name == "huge str":
        return "x" * 3_000_000
    if name == "huge list":
        return list(range(200_000))
    return {"weird": _Weird, "bad path": _BadPath, "iterator": lambda: iter([1]),
            "generator": lambda: (x for x in [1]),
            "memoryview": lambda: memoryview(b"ab")}[name]()


@functools.cache
def python_values() -> st.SearchStrategy[Any]:
    """Values of any Python shape, the strange and the hostile included."""
    return st.recursive(_python_leaves(), lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner),
        st.dictionaries(st.one_of(_text, st.integers(), st.none()), inner, max_size=4)),
        max_leaves=8)


@dataclass
class OutputCase:
    template: bytes
    value: Any


@st.composite
def output_cases(draw: st.DrawFn) -> OutputCase:
    """A template declaring outputs, and a value its executor returns (a dict by output
    name most of the time, as executors do)."""
    names = draw(st.lists(_input_names, min_size=0, max_size=3, unique=True))
    types = {name: draw(literal_types()) for name in names}
    tt = tasks_pb2.TaskTemplate()
    tt.id.name = "fuzz-outputs"
    tt.type = "returns"
    for name, lt in types.items():
        tt.interface.outputs.variables[name].CopyFrom(interface_pb2.Variable(type=lt))
    if len(names) > 1 or draw(st.booleans()):
        value: Any = {name: draw(python_values()) for name in names}
        if draw(st.integers(0, 5)) == 0:
            value[draw(_text)] = draw(python_values())
    else:
        value = draw(python_values())
    return OutputCase(tt.SerializeToString(), value)


def run_output_case(case: OutputCase, folder: Path, registry: Any) -> Any:
    """Run ``case`` through ``runtime.execute`` with the ``returns`` executor; check it."""
    import contextlib
    import io

    from shimtask_core import runtime

    folder.mkdir(parents=True, exist_ok=True)
    template, inputs = folder / "task.pb", folder / "inputs.pb"
    template.write_bytes(case.template)
    inputs.write_bytes(b"")
    out = folder / "out"
    Returns.value = _materialized(case.value)
    _Weird.armed = True
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            result = runtime.execute(inputs=str(inputs), output_prefix=str(out),
                                     template=str(template), registry=registry,
                                     raw_output_prefix=str(folder / "raw"))
    finally:
        Returns.value = None
        _Weird.armed = False
    assert result.written, result.write_error
    return check_result(out, ok=result.ok, stderr=stderr.getvalue())


# --- the SQL plugins' custom fields ---------------------------------------------------------

_QUERIES = (
    "select * from people where age > {{ .inputs.n }}",
    "select name from people where name = '{{ .inputs.name }}'",
    "select * from people where name in ({{ .inputs.names }})",
    "select {{ .inputs.n }} as x",
    "select count(*) as x from people",
    "select * from nope", "select", "", "{{ .inputs.missing }}", "{{ .inputs.n",
    "select * from people; drop table people", "select '{{ .inputs.name }}' || 1",
)
_PLUGIN_INPUTS = {"n": SimpleType.INTEGER, "name": SimpleType.STRING}


def make_people_db(path: Path) -> Path:
    """The small SQLite database the plugin cases query."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("create table if not exists people (name text, age integer)")
        db.execute("delete from people")
        db.executemany("insert into people values (?, ?)",
                       [("alice", 34), ("bob", 27), ("o'hara", 41)])
    return path


@st.composite
def plugin_cases(draw: st.DrawFn, db: str) -> Case:
    """A template for the installed ``sqlite`` or ``duckdb`` executor whose ``custom``
    is mutated: keys dropped, values of the wrong JSON type, unknown keys, any query."""
    executor = draw(st.sampled_from(["sqlite", "duckdb"]))
    body: dict[str, Any] = {"executor_type": executor,
                            "query_template": draw(st.one_of(st.sampled_from(_QUERIES), _text))}
    if executor == "sqlite":
        body.update(uri=db, compressed=False)
    elif draw(st.booleans()):
        body["query_template"] = [body["query_template"], draw(st.sampled_from(_QUERIES))]
    for key in [k for k in body if k != "executor_type"]:
        how = draw(st.sampled_from(["keep"] * 5 + ["drop", "wrong"]))
        if how == "drop":
            del body[key]
        elif how == "wrong":
            body[key] = draw(_json)
    body.update(draw(st.dictionaries(_text, _json, max_size=2)))
    custom = struct_pb2.Struct()
    for key, value in body.items():
        custom.fields[key].CopyFrom(_struct_value(value))
    types = {name: LiteralType(simple=simple) for name, simple in _PLUGIN_INPUTS.items()
             if draw(st.booleans())}
    if draw(st.booleans()):
        types["names"] = LiteralType(collection_type=LiteralType(simple=SimpleType.STRING))
    tt = tasks_pb2.TaskTemplate()
    tt.id.name = "fuzz-sql"
    tt.type = executor
    tt.custom.CopyFrom(custom)
    for name, lt in types.items():
        tt.interface.inputs.variables[name].CopyFrom(interface_pb2.Variable(type=lt))
    output = draw(st.sampled_from(["results", "x", "none"]))
    if output == "results":
        rows = LiteralType(collection_type=LiteralType(simple=SimpleType.STRUCT))
        tt.interface.outputs.variables["results"].CopyFrom(interface_pb2.Variable(type=rows))
    elif output == "x":
        tt.interface.outputs.variables["x"].CopyFrom(
            interface_pb2.Variable(type=LiteralType(simple=SimpleType.INTEGER)))
    inputs, _ = draw(literal_maps(types))
    return Case(tt.SerializeToString(), inputs.SerializeToString(), [f"{executor}: {body}"])
