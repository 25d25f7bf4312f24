"""Type *specs* shared by the property tests and the flytekit interop tests.

A spec is a small JSON description of a Python/Flyte type (see ``fk_worker.py``)
that both interpreters can build: flytekit builds ``typing`` types from it, we
build ``LiteralType``s (exactly as flytekit declares them) and Python types for
``literal_type_of``. The hypothesis strategies generate nested specs and values
of them; values cross the process boundary as tagged JSON (``to_wire``).
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import os
import tempfile
import typing
from typing import Any

from flyteidl.core import types_pb2
from hypothesis import strategies as st

from shimtask_core.files import Directory, File
from shimtask_core.literals import (
    INT64_MAX,
    INT64_MIN,
    JSON_SAFE_INT,
    LiteralType,
    struct_type,
    union_tag,
)

Spec = dict[str, Any]
UTC = dt.timezone.utc

SIMPLE = {
    "int": types_pb2.INTEGER, "float": types_pb2.FLOAT, "str": types_pb2.STRING,
    "bool": types_pb2.BOOLEAN, "datetime": types_pb2.DATETIME, "duration": types_pb2.DURATION,
    "none": types_pb2.NONE,
}


# --- specs -> our types ---------------------------------------------------------------


def literal_type(spec: Spec, *, msgpack: bool = True) -> types_pb2.LiteralType:
    """The LiteralType flytekit declares for ``spec`` (``msgpack=False``: generic dicts)."""
    kind = spec["k"]
    if kind in SIMPLE:
        return LiteralType(simple=SIMPLE[kind])
    if kind == "dict":
        return struct_type(msgpack=msgpack)
    if kind == "list":
        return LiteralType(collection_type=literal_type(spec["of"], msgpack=msgpack))
    if kind == "map":
        return LiteralType(map_value_type=literal_type(spec["of"], msgpack=msgpack))
    if kind in ("optional", "union"):
        options = [spec["of"], {"k": "none"}] if kind == "optional" else spec["of"]
        variants = []
        for option in options:
            variant = literal_type(option, msgpack=msgpack)
            variant.ClearField("structure")
            variant.structure.tag = union_tag(variant)
            variants.append(variant)
        return LiteralType(union_type=types_pb2.UnionType(variants=variants))
    if kind == "enum":
        return LiteralType(enum_type=types_pb2.EnumType(values=spec["values"]))
    if kind == "dataclass":
        lt = struct_type(msgpack=msgpack)
        names = [name for name, _ in spec["fields"]]
        lt.metadata.update({"title": spec.get("name", "DC"), "type": "object",
                            "required": names, "additionalProperties": False})
        for name, field in spec["fields"]:
            lt.structure.dataclass_type[name].CopyFrom(literal_type(field, msgpack=msgpack))
        return lt
    if kind == "file":
        return LiteralType(blob=types_pb2.BlobType())
    if kind == "dir":
        return LiteralType(blob=types_pb2.BlobType(dimensionality=types_pb2.BlobType.MULTIPART))
    if kind == "dataframe":
        return LiteralType(structured_dataset_type=types_pb2.StructuredDatasetType())
    if kind == "schema":
        return LiteralType(schema=types_pb2.SchemaType())
    raise ValueError(spec)


def python_type(spec: Spec) -> Any:
    """The Python type that ``literal_type_of`` turns into flytekit's declaration of ``spec``."""
    kind = spec["k"]
    simple = {"int": int, "float": float, "str": str, "bool": bool, "datetime": dt.datetime,
              "duration": dt.timedelta, "none": type(None), "dict": dict, "file": File,
              "dir": Directory}
    if kind in simple:
        return simple[kind]
    if kind == "list":
        return list[python_type(spec["of"])]  # type: ignore[misc]
    if kind == "map":
        return dict[str, python_type(spec["of"])]  # type: ignore[misc]
    if kind == "optional":
        return typing.Optional[python_type(spec["of"])]  # noqa: UP045
    if kind == "union":
        return typing.Union[tuple(python_type(s) for s in spec["of"])]  # noqa: UP007
    if kind == "enum":
        return enum.Enum("E", [(f"m{i}", v) for i, v in enumerate(spec["values"])])
    if kind == "dataframe":
        import pyarrow

        return pyarrow.Table
    raise ValueError(f"no Python type for {spec}")


# --- strategies ----------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
_enum_values = st.lists(st.text("abcdefgh", min_size=1, max_size=4), min_size=1, max_size=4,
                        unique=True)
_DATACLASS_LEAVES = ("int", "float", "str", "bool")


def _union_key(spec: Spec) -> str:
    kind = spec["k"]
    return "map" if kind in ("map", "dict", "dataclass") else kind


def specs(*, dataclasses: bool = True, max_leaves: int = 6) -> st.SearchStrategy[Spec]:
    """Nested specs: collections of maps of unions of enums, dataclasses of lists, ..."""
    leaves: st.SearchStrategy[Spec] = st.one_of(
        st.sampled_from(["int", "float", "str", "bool", "datetime", "duration", "dict"]).map(
            lambda k: {"k": k}),
        _enum_values.map(lambda values: {"k": "enum", "values": values}),
    )

    def extend(children: st.SearchStrategy[Spec]) -> st.SearchStrategy[Spec]:
        plain = children.filter(lambda s: s["k"] not in ("optional", "union"))
        options = [
            children.map(lambda s: {"k": "list", "of": s}),
            children.map(lambda s: {"k": "map", "of": s}),
            plain.map(lambda s: {"k": "optional", "of": s}),
            st.lists(plain, min_size=2, max_size=3, unique_by=_union_key).map(
                lambda ss: {"k": "union", "of": ss}),
        ]
        if dataclasses:
            options.append(st.lists(
                st.tuples(st.sampled_from("abcdef"), children.filter(_dataclass_safe)),
                min_size=1, max_size=3, unique_by=lambda f: f[0],
            ).map(lambda fields: {"k": "dataclass", "fields": [list(f) for f in fields]}))
        return st.one_of(options)

    return st.recursive(leaves, extend, max_leaves=max_leaves)


def _dataclass_safe(spec: Spec) -> bool:
    """Fields whose values msgpack carries as is (datetimes would travel as ISO text).

    flytekit 1.16 (mashumaro) cannot write an enum inside a union field, so
    those are left out too.
    """
    kind = spec["k"]
    if kind in ("datetime", "duration"):
        return False
    if kind in ("list", "map", "optional"):
        return _dataclass_safe(spec["of"])
    if kind == "union":
        return all(_dataclass_safe(s) and s["k"] != "enum" for s in spec["of"])
    if kind == "dataclass":
        return all(_dataclass_safe(s) for _, s in spec["fields"])
    return True


def _json_values(*, generic: bool) -> st.SearchStrategy[Any]:
    bound = JSON_SAFE_INT if generic else INT64_MAX
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-bound, bound),
        st.floats(allow_nan=False, allow_infinity=not generic), _text)
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)), max_leaves=6)


def values(spec: Spec, *, generic: bool = False) -> st.SearchStrategy[Any]:
    """Values of ``spec`` as the codec gives them back (enums as str, dataclasses as dicts)."""
    kind = spec["k"]
    if kind == "int":  # a generic Struct holds doubles: exact ints only up to 2**53
        return st.integers(-JSON_SAFE_INT, JSON_SAFE_INT) if generic else st.integers(
            INT64_MIN, INT64_MAX)
    if kind == "float":  # a generic Struct holds no infinities
        return st.floats(allow_nan=False, allow_infinity=not generic)
    if kind == "str":
        return _text
    if kind == "bool":
        return st.booleans()
    if kind == "datetime":
        return st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                            timezones=st.just(UTC))
    if kind == "duration":
        return st.timedeltas(min_value=dt.timedelta(days=-10**4),
                             max_value=dt.timedelta(days=10**4))
    if kind == "none":
        return st.none()
    if kind == "dict":
        return st.dictionaries(_text, _json_values(generic=generic), max_size=3)
    if kind == "enum":
        return st.sampled_from(spec["values"])
    if kind == "list":
        return st.lists(values(spec["of"], generic=generic), max_size=3)
    if kind == "map":
        return st.dictionaries(_text, values(spec["of"], generic=generic), max_size=3)
    if kind == "optional":
        return st.none() | values(spec["of"], generic=generic)
    if kind == "union":
        return st.one_of([values(s, generic=generic) for s in spec["of"]])
    if kind == "dataclass":
        return st.fixed_dictionaries({name: values(s, generic=generic)
                                      for name, s in spec["fields"]})
    raise ValueError(spec)


def spec_and_values(*, dataclasses: bool = True, generic: bool = False, count: int = 4
                    ) -> st.SearchStrategy[tuple[Spec, list[Any]]]:
    """A spec and a few values of it."""
    return specs(dataclasses=dataclasses).flatmap(lambda spec: st.tuples(
        st.just(spec), st.lists(values(spec, generic=generic), min_size=1, max_size=count)))


# --- comparing values exactly (int is not float, 1 is not True) ----------------------


def same(a: Any, b: Any, *, loose_numbers: bool = False) -> bool:
    """Deep equality that also compares types of numbers (unless ``loose_numbers``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return (loose_numbers or type(a) is type(b)) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, loose_numbers=loose_numbers)
                                        for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], loose_numbers=loose_numbers)
                                            for k in a)
    return type(a) is type(b) and bool(a == b)


# --- tagged JSON (the twin of fk_worker.to_wire / from_wire) ----------------------------


def to_wire(value: Any) -> Any:
    """One of our Python values as tagged JSON."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return {"$f": repr(value)}
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$td": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {"$d": [[to_wire(k), to_wire(v)] for k, v in value.items()]}
    if isinstance(value, Directory):
        files = {}
        for relative in value.listdir():
            with open(os.path.join(value.path, relative), "rb") as fh:
                files[relative] = base64.b64encode(fh.read()).decode()
        return {"$dir": files}
    if isinstance(value, File):
        return {"$file": base64.b64encode(value.read_bytes()).decode()}
    if hasattr(value, "to_pylist"):
        return {"$table": to_wire(value.to_pylist())}
    raise TypeError(f"cannot send {type(value)}")


def from_wire(wire: Any) -> Any:
    """Tagged JSON -> plain Python (floats stay floats, dicts are dicts)."""
    if isinstance(wire, list):
        return [from_wire(v) for v in wire]
    if isinstance(wire, dict):
        if "$f" in wire:
            return float(wire["$f"])
        if "$dt" in wire:
            return dt.datetime.fromisoformat(wire["$dt"])
        if "$td" in wire:
            days, seconds, micros = wire["$td"]
            return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
        if "$b" in wire:
            return base64.b64decode(wire["$b"])
        if "$d" in wire:
            return {from_wire(k): from_wire(v) for k, v in wire["$d"]}
        if "$table" in wire:
            return {"table": from_wire(wire["$table"])}
        if "$file" in wire:
            return {"file": base64.b64decode(wire["$file"])}
        if "$dir" in wire:
            return {"dir": {k: base64.b64decode(v) for k, v in wire["$dir"].items()}}
        raise TypeError(f"unexpected {wire}")
    return wire


def local_file(content: bytes, name: str = "data.bin") -> str:
    path = os.path.join(tempfile.mkdtemp(prefix="shimtask-interop-"), name)
    with open(path, "wb") as fh:
        fh.write(content)
    return path


def spec_key(spec: Spec) -> str:
    return json.dumps(spec, sort_keys=True)
