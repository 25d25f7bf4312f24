"""Interop with real flytekit (pinned 1.16.x, in its own interpreter).

For the same values: literals that flytekit's TypeEngine writes decode to the
same Python values with our codec, and literals our codec writes are read back
by flytekit to the same values. Types: nested shapes from hypothesis, plus
files, directories and structured datasets (parquet), including the legacy
``schema`` output that flytekit's SQLite3Task declares.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from flytekit_interop.specs import (
    from_wire,
    literal_type,
    python_type,
    same,
    spec_and_values,
    to_wire,
)
from flytekit_interop.worker import FlytekitWorker
from hypothesis import HealthCheck, given, settings

from shimtask_core.context import ExecutionContext, using_context
from shimtask_core.files import Directory, File
from shimtask_core.literals import (
    Literal,
    LiteralType,
    decoder_for,
    encoder_for,
    is_msgpack_struct,
    literal_type_of,
)

pytestmark = pytest.mark.flytekit


def _b64(message: Any) -> str:
    return base64.b64encode(message.SerializeToString()).decode()


def _literal(text: str) -> Any:
    lit = Literal()
    lit.ParseFromString(base64.b64decode(text))
    return lit


def _literal_type(text: str) -> Any:
    lt = LiteralType()
    lt.ParseFromString(base64.b64decode(text))
    return lt


def _ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert "error" not in answer, answer["error"]
    return answer


def _bare(lt: Any, *fields: str) -> bytes:
    """A type without the given fields at any depth, union variants in a canonical order.

    (typing caches unions by equality, which ignores order: in one process
    ``Union[int, float]`` may come back as an earlier ``Union[float, int]``.)
    """
    copy = LiteralType()
    copy.CopyFrom(lt)
    _strip(copy, fields)
    return bytes(copy.SerializeToString(deterministic=True))


def _strip(node: Any, fields: tuple[str, ...]) -> None:
    for name in fields:
        node.ClearField(name)
    kind = node.WhichOneof("type")
    if kind == "collection_type":
        _strip(node.collection_type, fields)
    elif kind == "map_value_type":
        _strip(node.map_value_type, fields)
    elif kind == "union_type":
        variants = list(node.union_type.variants)
        for variant in variants:
            _strip(variant, fields)
        ordered = sorted(v.SerializeToString(deterministic=True) for v in variants)
        del node.union_type.variants[:]
        for data in ordered:
            node.union_type.variants.add().ParseFromString(data)
    if node.HasField("structure"):
        for field in node.structure.dataclass_type.values():
            _strip(field, fields)


def test_the_pinned_flytekit_answers(flytekit: FlytekitWorker) -> None:
    assert flytekit.version.startswith("1.16."), flytekit.version


DECLARED = [
    {"k": "int"}, {"k": "float"}, {"k": "str"}, {"k": "bool"}, {"k": "datetime"},
    {"k": "duration"}, {"k": "none"}, {"k": "dict"},
    {"k": "list", "of": {"k": "float"}},
    {"k": "map", "of": {"k": "list", "of": {"k": "int"}}},
    {"k": "optional", "of": {"k": "int"}},
    {"k": "optional", "of": {"k": "list", "of": {"k": "optional", "of": {"k": "str"}}}},
    {"k": "union", "of": [{"k": "int"}, {"k": "str"}, {"k": "map", "of": {"k": "float"}}]},
    {"k": "union", "of": [{"k": "datetime"}, {"k": "duration"}, {"k": "bool"}]},
    {"k": "enum", "values": ["red", "green"]},
    {"k": "optional", "of": {"k": "enum", "values": ["a"]}},
    {"k": "optional", "of": {"k": "dict"}},
    {"k": "file"}, {"k": "dir"},
    {"k": "union", "of": [{"k": "file"}, {"k": "dir"}, {"k": "int"}]},
    {"k": "dataframe"},
]


def test_literal_type_of_declares_what_flytekit_declares(flytekit: FlytekitWorker) -> None:
    answers = flytekit.request([{"op": "type", "spec": spec} for spec in DECLARED])
    for spec, answer in zip(DECLARED, answers, strict=True):
        theirs = _literal_type(_ok(answer)["lt"])
        ours = literal_type_of(python_type(spec))
        # flytekit declares untyped dicts as msgpack STRUCTs; literal_type_of(dict) is the
        # generic STRUCT (struct_type(msgpack=True) is flytekit's form): equal but for that.
        assert _bare(ours, "annotation") == _bare(theirs, "annotation"), spec
        assert literal_type(spec) == theirs, spec
        if spec == {"k": "dict"}:
            assert is_msgpack_struct(theirs) and not is_msgpack_struct(ours)


def test_dataclass_types_are_flytekit_s(flytekit: FlytekitWorker) -> None:
    spec = {"k": "dataclass", "name": "DC", "fields": [
        ["a", {"k": "int"}], ["b", {"k": "list", "of": {"k": "float"}}],
        ["c", {"k": "optional", "of": {"k": "str"}}], ["when", {"k": "datetime"}],
        ["inner", {"k": "dataclass", "name": "In", "fields": [["x", {"k": "bool"}]]}]]}
    (answer,) = flytekit.request([{"op": "type", "spec": spec}])
    theirs = _literal_type(_ok(answer)["lt"])
    assert _bare(literal_type(spec), "metadata") == _bare(theirs, "metadata")
    import datetime as dt

    value = {"a": 1, "b": [2.0, 0.5], "c": None,
             "when": dt.datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=dt.timezone.utc),
             "inner": {"x": True}}
    from_fk, = flytekit.request([{"op": "to_literal", "spec": spec, "value": to_wire(value)}])
    assert same(decoder_for(theirs)(_literal(_ok(from_fk)["lit"])), value)
    ours = encoder_for(theirs)({**value, "b": [2, 0.5]})  # int -> float widening
    back, = flytekit.request([{"op": "to_python", "spec": spec, "lit": _b64(ours)}])
    assert same(from_wire(_ok(back)["value"]), value)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=spec_and_values())
def test_same_values_both_ways(flytekit: FlytekitWorker,
                               case: tuple[dict[str, Any], list[Any]]) -> None:
    spec, examples = case
    first = flytekit.request(
        [{"op": "type", "spec": spec}]
        + [{"op": "to_literal", "spec": spec, "value": to_wire(v)} for v in examples])
    declared = _literal_type(_ok(first[0])["lt"])
    assert _bare(literal_type(spec), "metadata") == _bare(declared, "metadata"), spec
    decode, encode = decoder_for(declared), encoder_for(declared)
    for value, answer in zip(examples, first[1:], strict=True):
        ours = decode(_literal(_ok(answer)["lit"]))
        assert same(ours, value), (spec, value, ours)
    second = flytekit.request([{"op": "to_python", "spec": spec, "lit": _b64(encode(v))}
                               for v in examples])
    for value, answer in zip(examples, second, strict=True):
        theirs = from_wire(_ok(answer)["value"])
        assert same(theirs, value), (spec, value, theirs)


# --- offloaded data: datasets, files, directories ------------------------------------

RECORDS = [{"name": "alice", "age": 34, "score": 1.5}, {"name": "bob", "age": 27, "score": -2.0}]


@pytest.fixture
def ctx(tmp_path: Path) -> Any:
    with using_context(ExecutionContext(raw_output_prefix=str(tmp_path / "raw"))) as current:
        yield current


def test_a_dataframe_flytekit_wrote_reads_as_a_pyarrow_table(flytekit: FlytekitWorker) -> None:
    for declared in ({"k": "dataframe"}, {"k": "schema"}):  # schema: as SQLite3Task writes it
        typ, lit = flytekit.request([
            {"op": "type", "spec": declared},
            {"op": "to_literal", "spec": {"k": "dataframe"}, "declared": declared,
             "value": {"$table": to_wire(RECORDS)}},
        ])
        literal = _literal(_ok(lit)["lit"])
        assert literal.scalar.WhichOneof("value") == "structured_dataset"
        table = decoder_for(_literal_type(_ok(typ)["lt"]))(literal)
        assert table.to_pylist() == RECORDS


def test_our_datasets_are_what_flytekit_writes_and_reads(
        flytekit: FlytekitWorker, ctx: Any) -> None:
    import pyarrow as pa

    for declared in ({"k": "dataframe"}, {"k": "schema"}):
        (typ,) = flytekit.request([{"op": "type", "spec": declared}])
        lt = _literal_type(_ok(typ)["lt"])
        for value in (RECORDS, pa.Table.from_pylist(RECORDS)):
            ours = encoder_for(lt)(value)
            theirs, = flytekit.request([
                {"op": "to_literal", "spec": {"k": "dataframe"}, "declared": declared,
                 "value": {"$table": to_wire(RECORDS)}}])
            flytekit_literal = _literal(_ok(theirs)["lit"])
            # the same literal but for the random directory name
            assert ours.scalar.structured_dataset.metadata == \
                flytekit_literal.scalar.structured_dataset.metadata
            assert os.listdir(ours.scalar.structured_dataset.uri) == ["00000"]
            for reader in ({"k": "dataframe"}, declared):
                back, = flytekit.request([{"op": "to_python", "spec": reader,
                                           "lit": _b64(ours)}])
                assert from_wire(_ok(back)["value"]) == {"table": RECORDS}, reader


def test_files_and_directories_both_ways(flytekit: FlytekitWorker, ctx: Any,
                                         tmp_path: Path) -> None:
    content = b"hello\x00world"
    tree = {"a.txt": b"a", os.path.join("sub", "b.bin"): b"\x01\x02"}
    file_spec, dir_spec = {"k": "file"}, {"k": "dir"}
    ftype, dtype, flit, dlit = flytekit.request([
        {"op": "type", "spec": file_spec}, {"op": "type", "spec": dir_spec},
        {"op": "to_literal", "spec": file_spec,
         "value": {"$file": base64.b64encode(content).decode(), "name": "x.bin"}},
        {"op": "to_literal", "spec": dir_spec,
         "value": {"$dir": {k: base64.b64encode(v).decode() for k, v in tree.items()}}},
    ])
    file_lt, dir_lt = _literal_type(_ok(ftype)["lt"]), _literal_type(_ok(dtype)["lt"])
    got_file = decoder_for(file_lt)(_literal(_ok(flit)["lit"]))
    assert isinstance(got_file, File) and got_file.read_bytes() == content
    got_dir = decoder_for(dir_lt)(_literal(_ok(dlit)["lit"]))
    assert isinstance(got_dir, Directory) and got_dir.listdir() == sorted(tree)

    local = tmp_path / "mine.txt"
    local.write_bytes(content)
    folder = tmp_path / "tree"
    for relative, data in tree.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    ours_file = encoder_for(file_lt)(str(local))
    ours_dir = encoder_for(dir_lt)(Directory(folder))
    assert ours_file.scalar.blob.uri.startswith(ctx.raw_output_prefix)
    assert ours_file.scalar.blob.uri.endswith("/mine.txt")
    back_file, back_dir = flytekit.request([
        {"op": "to_python", "spec": file_spec, "lit": _b64(ours_file)},
        {"op": "to_python", "spec": dir_spec, "lit": _b64(ours_dir)},
    ])
    assert from_wire(_ok(back_file)["value"]) == {"file": content}
    assert from_wire(_ok(back_dir)["value"]) == {"dir": tree}
