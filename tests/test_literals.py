"""The literal codec: the type table, strict validation, unions, msgpack, interfaces."""

from __future__ import annotations

import datetime as dt
import enum
import math
import typing
from collections import namedtuple
from typing import Any, Literal

import pytest
from flyteidl.core import interface_pb2, literals_pb2, types_pb2
from google.protobuf import json_format

from shimtask_core import (
    MissingInput,
    OutputMismatch,
    UnexpectedInput,
    UnsupportedType,
    ValueTypeError,
    custom_of,
    make_template,
)
from shimtask_core.files import Directory, File
from shimtask_core.literals import (
    InterfaceCodec,
    LiteralType,
    Mismatch,
    decoder_for,
    describe,
    encoder_for,
    is_msgpack_struct,
    literal_type_of,
    msgpack_dumps,
    python_type_of,
    struct_type,
)

UTC = dt.timezone.utc


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


def as_json(message: Any) -> Any:
    return json_format.MessageToDict(message)


def lit_json(text: str) -> literals_pb2.Literal:
    return json_format.Parse(text, literals_pb2.Literal())


def round_trip(py_type: Any, value: Any) -> Any:
    lt = literal_type_of(py_type)
    again = literals_pb2.Literal()
    again.ParseFromString(encoder_for(lt)(value).SerializeToString())
    return decoder_for(lt)(again)


def codec(inputs: dict[str, Any] | None = None, outputs: dict[str, Any] | None = None
          ) -> InterfaceCodec:
    return InterfaceCodec(make_template("t", "t", inputs=inputs or {}, outputs=outputs or {})
                          .interface)


# --- the type table -----------------------------------------------------------------


@pytest.mark.parametrize(("lt", "expected"), [
    ({"simple": "INTEGER"}, int),
    ({"simple": "FLOAT"}, float),
    ({"simple": "STRING"}, str),
    ({"simple": "BOOLEAN"}, bool),
    ({"simple": "DATETIME"}, dt.datetime),
    ({"simple": "DURATION"}, dt.timedelta),
    ({"simple": "NONE"}, type(None)),
    ({"simple": "STRUCT"}, dict),
    ({"simple": "BINARY"}, Any),
    ({"collectionType": {"simple": "FLOAT"}}, list[float]),
    ({"mapValueType": {"collectionType": {"simple": "INTEGER"}}}, dict[str, list[int]]),
    ({"unionType": {"variants": [{"simple": "INTEGER"}, {"simple": "NONE"}]}}, int | None),
    ({"unionType": {"variants": [{"simple": "INTEGER"}, {"simple": "STRING"}]}},
     int | str),
    ({"enumType": {"values": ["red", "green"]}}, Literal["red", "green"]),
    ({"blob": {}}, File),
    ({"blob": {"dimensionality": "MULTIPART"}}, Directory),
])
def test_python_type_table(lt: dict[str, Any], expected: Any) -> None:
    assert python_type_of(json_format.ParseDict(lt, LiteralType())) == expected


def test_datasets_are_pyarrow_tables() -> None:
    pa = pytest.importorskip("pyarrow")
    for lt in ({"structuredDatasetType": {"format": "parquet"}}, {"schema": {}}):
        assert python_type_of(json_format.ParseDict(lt, LiteralType())) is pa.Table


@pytest.mark.parametrize("lt", [{"simple": "ERROR"}, {}])
def test_unsupported_types_are_named(lt: dict[str, Any]) -> None:
    parsed = json_format.ParseDict(lt, LiteralType())
    for build in (python_type_of, encoder_for, decoder_for):
        with pytest.raises(UnsupportedType, match="unsupported Flyte type") as info:
            build(parsed)
        assert info.value.type_description == describe(parsed)
    tt = make_template("t", "t", inputs={"bad": parsed})
    with pytest.raises(UnsupportedType, match="variable 'bad'") as info:
        InterfaceCodec(tt.interface)
    assert info.value.variable == "bad"


# --- declaring types as flytekit does ------------------------------------------------
# (the flytekit interop tests check these against flytekit itself)


@pytest.mark.parametrize(("py_type", "expected"), [
    (int | None, {"unionType": {"variants": [
        {"simple": "INTEGER", "structure": {"tag": "int"}},
        {"simple": "NONE", "structure": {"tag": "none"}}]}}),
    (list[int] | None, {"unionType": {"variants": [
        {"collectionType": {"simple": "INTEGER"}, "structure": {"tag": "Typed List"}},
        {"simple": "NONE", "structure": {"tag": "none"}}]}}),
    (int | dict[str, float], {"unionType": {"variants": [
        {"simple": "INTEGER", "structure": {"tag": "int"}},
        {"mapValueType": {"simple": "FLOAT"}, "structure": {"tag": "Typed Dict"}}]}}),
    (Color | None, {"unionType": {"variants": [
        {"enumType": {"values": ["red", "green"]}, "structure": {"tag": "DefaultEnumTransformer"}},
        {"simple": "NONE", "structure": {"tag": "none"}}]}}),
    (File | Directory | dt.datetime | dt.timedelta, {"unionType": {"variants": [
        {"blob": {}, "structure": {"tag": "FlyteFilePath"}},
        {"blob": {"dimensionality": "MULTIPART"}, "structure": {"tag": "FlyteDirectory"}},
        {"simple": "DATETIME", "structure": {"tag": "datetime"}},
        {"simple": "DURATION", "structure": {"tag": "timedelta"}}]}}),
    (Color, {"enumType": {"values": ["red", "green"]}}),
    (dict, {"simple": "STRUCT"}),
    (bytes, {"simple": "BINARY"}),
    (File, {"blob": {}}),
])
def test_literal_type_of_matches_flytekit(py_type: Any, expected: dict[str, Any]) -> None:
    assert as_json(literal_type_of(py_type)) == expected


def test_msgpack_struct_is_flytekit_s_dict_declaration() -> None:
    lt = struct_type(msgpack=True)
    assert as_json(lt) == {"simple": "STRUCT", "annotation": {"annotations": {
        "cache-key-metadata": {"serialization-format": "msgpack"}}}}
    assert is_msgpack_struct(lt) and not is_msgpack_struct(struct_type())


def test_literal_type_of_rejects_what_flyte_cannot_declare() -> None:
    class Numbers(enum.Enum):
        ONE = 1

    for bad in (dict[int, str], set[int], Numbers, object):
        with pytest.raises(UnsupportedType):
            literal_type_of(bad)


# --- strictness -----------------------------------------------------------------------


@pytest.mark.parametrize(("py_type", "value", "expected", "got"), [
    (int, "7", "int", "str '7'"),
    (int, 7.0, "int", "float 7.0"),
    (int, True, "int", "bool True"),
    (int, 2**63, "int (64-bit)", "9223372036854775808 which overflows int64"),
    (int, -(2**63) - 1, "int (64-bit)", "overflows int64"),
    (float, "1.5", "float", "str '1.5'"),
    (float, True, "float", "bool True"),
    (float, 10**400, "float", "overflows a double"),
    (str, b"x", "str", "bytes b'x'"),
    (bool, 1, "bool", "int 1"),
    (dt.datetime, dt.date(2024, 1, 1), "datetime", "date"),
    (dt.timedelta, 5, "timedelta", "int 5"),
    (type(None), 0, "None", "int 0"),
    (list[int], (1, "2"), "int", "str '2'"),
    (list[int], {1, 2}, "list", "set"),
    (dict[str, int], {"a": "b"}, "int", "str 'b'"),
    (dict[str, int], {1: 2}, "dict with str keys", "key 1"),
    (dict, {"a": {1, 2}}, "dict of JSON values", "set"),
    (dict, {"a": 2**53 + 1}, "dict of JSON values", "beyond +-2**53"),
    (dict, {"a": math.nan}, "dict of JSON values", "nan"),
    (dict, [1], "dict", "list [1]"),
    (Color, "blue", "one of ['red', 'green']", "str 'blue'"),
    (int | None, "x", "int | none", "str 'x'"),
])
def test_wrong_values_are_refused(py_type: Any, value: Any, expected: str, got: str) -> None:
    with pytest.raises(Mismatch) as info:
        encoder_for(literal_type_of(py_type))(value)
    assert info.value.expected == expected
    assert got in info.value.got


def test_only_int_to_float_widening() -> None:
    assert round_trip(float, 3) == 3.0 and type(round_trip(float, 3)) is float
    assert round_trip(list[float], [1, 2.5]) == [1.0, 2.5]
    assert round_trip(dt.datetime, dt.datetime(2024, 1, 2)) == dt.datetime(2024, 1, 2,
                                                                            tzinfo=UTC)
    aware = dt.datetime(2024, 1, 2, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert round_trip(dt.datetime, aware) == aware and round_trip(dt.datetime, aware).tzinfo == UTC


def test_errors_name_the_variable_the_path_the_expected_type_and_the_value() -> None:
    c = codec(inputs={"xs": list[dict[str, int]]}, outputs={"o0": int})
    with pytest.raises(ValueTypeError) as info:
        c.encode_inputs({"xs": [{"a": 1}, {"b": "two"}]})
    error = info.value
    assert (error.variable, error.expected, error.got) == ("xs[1]['b']", "int", "str 'two'")
    assert str(error) == "input \"xs[1]['b']\": expected int, got str 'two'"
    with pytest.raises(ValueTypeError, match="output 'o0': expected int, got str '7'"):
        c.encode_outputs("7")
    with pytest.raises(ValueTypeError, match="overflows int64"):
        c.encode_outputs(2**64)


def test_literals_of_the_wrong_kind_are_refused() -> None:
    c = codec(inputs={"n": int, "xs": list[int]})
    lm = literals_pb2.LiteralMap()
    lm.literals["n"].scalar.primitive.string_value = "7"
    lm.literals["xs"].collection.SetInParent()
    with pytest.raises(ValueTypeError, match="input 'n': expected int, got a string_value"):
        c.decode_inputs(lm)
    assert decoder_for(literal_type_of(int))(lit_json('{"scalar": {"primitive": '
                                                     '{"floatValue": 3.0}}}')) == 3
    with pytest.raises(Mismatch):  # a float that is not integral is not an int
        decoder_for(literal_type_of(int))(lit_json('{"scalar": {"primitive": '
                                                  '{"floatValue": 3.5}}}'))


def test_missing_unknown_and_optional_inputs() -> None:
    c = codec(inputs={"a": int, "maybe": str | None})
    with pytest.raises(MissingInput) as missing:
        c.encode_inputs({})
    assert (missing.value.variable, missing.value.expected) == ("a", "int")
    with pytest.raises(UnexpectedInput) as extra:
        c.encode_inputs({"a": 1, "b": 2})
    assert extra.value.names == ("b",) and extra.value.declared == ("a", "maybe")
    assert c.decode_inputs(c.encode_inputs({"a": 1})) == {"a": 1, "maybe": None}
    lm = literals_pb2.LiteralMap()
    lm.literals["a"].scalar.primitive.integer = 1
    assert c.decode_inputs(lm) == {"a": 1, "maybe": None}
    lm.literals["zzz"].scalar.primitive.integer = 2  # unknown, with an optional one missing
    with pytest.raises(UnexpectedInput, match="'zzz'"):
        c.decode_inputs(lm)
    del lm.literals["zzz"]
    del lm.literals["a"]
    with pytest.raises(MissingInput, match="'a'"):
        c.decode_inputs(lm)


def test_offloaded_input_literals_are_loaded(tmp_path: Any) -> None:
    big = encoder_for(literal_type_of(list[int]))(list(range(100)))
    path = tmp_path / "offloaded.pb"
    path.write_bytes(big.SerializeToString())
    lm = literals_pb2.LiteralMap()
    lm.literals["xs"].offloaded_metadata.uri = str(path)
    assert codec(inputs={"xs": list[int]}).decode_inputs(lm) == {"xs": list(range(100))}


# --- outputs by name ---------------------------------------------------------------


def test_outputs_map_by_name_never_by_position() -> None:
    c = codec(outputs={"b": int, "a": str})
    out = c.encode_outputs({"a": "x", "b": 1})
    assert c.decode_outputs(out) == {"a": "x", "b": 1}
    pair = namedtuple("pair", "b a")
    assert c.decode_outputs(c.encode_outputs(pair(a="y", b=2))) == {"a": "y", "b": 2}
    with pytest.raises(OutputMismatch, match="return a dict keyed by output name"):
        c.encode_outputs((1, "x"))
    with pytest.raises(OutputMismatch, match="missing 'b'; unknown 'c'"):
        c.encode_outputs({"a": "x", "c": 1})
    with pytest.raises(OutputMismatch, match="instead of a dict keyed by output name"):
        c.encode_outputs(5)


def test_positional_outputs_accept_a_tuple_in_order() -> None:
    c = codec(outputs={f"o{i}": int for i in range(11)})
    values = tuple(range(11))
    assert c.decode_outputs(c.encode_outputs(values)) == {f"o{i}": i for i in range(11)}
    with pytest.raises(OutputMismatch, match="returned 2 values for 11 outputs"):
        c.encode_outputs((1, 2))


def test_single_output_takes_the_value_or_a_dict_by_its_name() -> None:
    c = codec(outputs={"n": int})
    assert c.decode_outputs(c.encode_outputs(3)) == {"n": 3}
    assert c.decode_outputs(c.encode_outputs({"n": 4})) == {"n": 4}
    with pytest.raises(OutputMismatch, match="missing 'n'; unknown 'm'"):
        c.encode_outputs({"m": 4})  # the documented rule (issue 14, finding 10)
    d = codec(outputs={"n": dict[str, int]})  # a dict-typed output: the dict is the value
    assert d.decode_outputs(d.encode_outputs({"n": 4})) == {"n": {"n": 4}}
    with pytest.raises(OutputMismatch, match="declares no outputs"):
        codec().encode_outputs(1)
    assert codec().encode_outputs(None) == literals_pb2.LiteralMap()


# --- unions ----------------------------------------------------------------------------


def test_union_encoding_tags_the_stored_type_as_flytekit_does() -> None:
    lit = encoder_for(literal_type_of(int | None))(5)
    assert as_json(lit) == {"scalar": {"union": {
        "value": {"scalar": {"primitive": {"integer": "5"}}},
        "type": {"simple": "INTEGER", "structure": {"tag": "int"}}}}}
    none = encoder_for(literal_type_of(int | None))(None)
    assert as_json(none)["scalar"]["union"]["type"] == {"simple": "NONE",
                                                        "structure": {"tag": "none"}}


def test_union_prefers_the_exact_variant_over_a_widening() -> None:
    lt = literal_type_of(float | int)
    assert as_json(encoder_for(lt)(3))["scalar"]["union"]["type"]["structure"]["tag"] == "int"
    assert as_json(encoder_for(lt)(3.0))["scalar"]["union"]["type"]["structure"]["tag"] == "float"
    assert round_trip(float | int, 3) == 3 and type(round_trip(float | int, 3)) is int
    tagged = literal_type_of(str | Color)
    assert as_json(encoder_for(tagged)("red"))["scalar"]["union"]["type"]["structure"]["tag"] \
        == "str"  # flytekit's rule: a bare str goes to str, not to the enum
    assert round_trip(int | str | list[int], [1]) == [1]


def test_union_decoding_honours_the_stored_type() -> None:
    lt = literal_type_of(int | float)
    as_float = lit_json('{"scalar": {"union": {"value": {"scalar": {"primitive": {"integer": 3}}},'
                        ' "type": {"simple": "FLOAT", "structure": {"tag": "float"}}}}}')
    assert type(decoder_for(lt)(as_float)) is float
    untagged = lit_json('{"scalar": {"union": {"value": {"scalar": {"primitive": {"integer": 3}}},'
                        ' "type": {"simple": "FLOAT"}}}}')
    assert type(decoder_for(lt)(untagged)) is float  # matched by shape without a tag
    plain = lit_json('{"scalar": {"primitive": {"integer": 3}}}')
    assert type(decoder_for(lt)(plain)) is int  # no union wrapper: the exact kind first
    lists = literal_type_of(list[int] | list[str])  # two variants, one tag
    of_str = lit_json('{"scalar": {"union": {"value": {"collection": {"literals": []}},'
                      ' "type": {"collectionType": {"simple": "STRING"},'
                      ' "structure": {"tag": "Typed List"}}}}}')
    assert decoder_for(lists)(of_str) == []
    with pytest.raises(Mismatch, match=r"int \| float"):
        decoder_for(lt)(lit_json('{"scalar": {"primitive": {"stringValue": "x"}}}'))


# --- enums, structs, msgpack, binary ----------------------------------------------------


def test_enums_are_strings_validated_against_the_values() -> None:
    assert round_trip(Color, "green") == "green"
    assert round_trip(Color, Color.RED) == "red"
    with pytest.raises(Mismatch):
        decoder_for(literal_type_of(Color))(lit_json(
            '{"scalar": {"primitive": {"stringValue": "blue"}}}'))


def test_untyped_dicts_are_generic_unless_declared_msgpack() -> None:
    value = {"a": 1, "b": [1.5, None, "x"], "c": {"d": True}}
    generic = encoder_for(struct_type())(value)
    assert generic.scalar.WhichOneof("value") == "generic"
    packed = encoder_for(struct_type(msgpack=True))(value)
    assert packed.scalar.binary.tag == "msgpack"
    for lt in (struct_type(), struct_type(msgpack=True)):  # either form is read by either
        for lit in (generic, packed):
            assert decoder_for(lt)(lit) == value
    assert type(decoder_for(struct_type())(generic)["a"]) is int


def test_msgpack_dicts_keep_what_json_cannot() -> None:
    value = {"big": 2**62, "raw": b"\x00\x01", "inf": math.inf, "nested": [{"k": 1}]}
    assert decoder_for(struct_type(msgpack=True))(
        encoder_for(struct_type(msgpack=True))(value)) == value


def test_values_resolved_out_of_msgpack_dataclasses_decode() -> None:
    """Propeller hands a dataclass attribute over as a msgpack binary scalar."""
    def packed(value: Any) -> literals_pb2.Literal:
        lit = literals_pb2.Literal()
        lit.scalar.binary.value = msgpack_dumps(value)
        lit.scalar.binary.tag = "msgpack"
        return lit

    assert decoder_for(literal_type_of(int))(packed(3)) == 3
    assert decoder_for(literal_type_of(float))(packed(2)) == 2.0
    assert decoder_for(literal_type_of(str))(packed("s")) == "s"
    assert decoder_for(literal_type_of(Color))(packed("red")) == "red"
    assert decoder_for(literal_type_of(dt.datetime))(packed("2024-01-02T03:04:05+00:00")) == \
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert decoder_for(literal_type_of(dt.timedelta))(packed(1.5)) == dt.timedelta(seconds=1.5)
    with pytest.raises(Mismatch):
        decoder_for(literal_type_of(int))(packed("3"))


def test_binary_is_bytes_or_msgpack() -> None:
    lt = literal_type_of(bytes)
    assert round_trip(bytes, b"\xff") == b"\xff"
    assert round_trip(bytes, {"a": [1]}) == {"a": [1]}
    assert encoder_for(lt)({"a": 1}).scalar.binary.tag == "msgpack"


def dataclass_type() -> types_pb2.LiteralType:
    lt = struct_type(msgpack=True)
    lt.metadata.update({"title": "Point", "required": ["x", "when"],
                        "additionalProperties": False})
    lt.structure.dataclass_type["x"].simple = types_pb2.FLOAT
    lt.structure.dataclass_type["when"].simple = types_pb2.DATETIME
    lt.structure.dataclass_type["tags"].CopyFrom(literal_type_of(list[str] | None))
    return lt


def test_dataclass_values_are_validated_dicts() -> None:
    lt = dataclass_type()
    when = dt.datetime(2024, 1, 2, tzinfo=UTC)
    lit = encoder_for(lt)({"x": 1, "when": when})
    assert decoder_for(lt)(lit) == {"x": 1.0, "when": when}
    assert type(decoder_for(lt)(lit)["x"]) is float
    assert describe(lt) == "dict (dataclass Point)"
    for bad, got in [({"when": when}, "without field(s) 'x'"),
                     ({"x": 1.0, "when": when, "y": 2}, "unknown field(s) 'y'"),
                     ({"x": "1", "when": when}, "str '1'"),
                     ({"x": 1.0, "when": when, "tags": [1]}, "int 1")]:
        with pytest.raises(Mismatch) as info:
            encoder_for(lt)(bad)
        assert got in info.value.got


# --- floats fast path and generic collections -----------------------------------------


def test_float_lists_of_any_size_and_content() -> None:
    for n in (0, 1, 7, 8, 9, 4095, 4096, 4097, 10_000):
        xs = [i / 7 for i in range(n)]
        assert round_trip(list[float], xs) == xs
    special = [math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308] * 3
    back = round_trip(list[float], special)
    assert back == special and math.copysign(1, back[2]) == -1
    assert math.isnan(round_trip(list[float], [math.nan] * 9)[0])
    with pytest.raises(Mismatch) as info:
        encoder_for(literal_type_of(list[float]))([1.0] * 20 + [None])
    assert info.value.path == ["[20]"]
    with pytest.raises(Mismatch, match="float"):
        encoder_for(literal_type_of(list[float]))([1.0] * 20 + [10**400])


def test_float_list_decoder_falls_back_for_non_canonical_literals() -> None:
    lit = encoder_for(literal_type_of(list[float]))([1.5] * 10)
    lit.collection.literals[3].hash = "extra field"
    lit.collection.literals[4].scalar.primitive.integer = 2  # widening, element-wise
    assert decoder_for(literal_type_of(list[float]))(lit) == [1.5] * 4 + [2.0] + [1.5] * 5
    lit.collection.literals[5].scalar.primitive.string_value = "x"
    with pytest.raises(Mismatch) as info:
        decoder_for(literal_type_of(list[float]))(lit)
    assert info.value.path == ["[5]"]


def test_empty_containers_keep_their_kind() -> None:
    assert as_json(encoder_for(literal_type_of(list[int]))([])) == {"collection": {}}
    assert as_json(encoder_for(literal_type_of(dict[str, int]))({})) == {"map": {}}
    assert as_json(encoder_for(literal_type_of(dict))({})) == {"scalar": {"generic": {}}}
    assert round_trip(list[list[int]], [[], [1]]) == [[], [1]]


# --- custom_of (integers in custom come back as int) ---------------------------------


def test_custom_of_reads_integral_numbers_as_int() -> None:
    custom = {"limit": 5, "ratio": 0.5, "whole": 2.0, "neg": -(2**53), "flag": True,
              "nested": {"n": [1, 2, 3.25]}, "name": "x", "nothing": None}
    read = custom_of(make_template("t", "t", custom=custom))
    assert read["limit"] == 5 and type(read["limit"]) is int
    assert read["neg"] == -(2**53) and type(read["neg"]) is int
    assert read["nested"] == {"n": [1, 2, 3.25]}
    assert [type(v) for v in read["nested"]["n"]] == [int, int, float]
    assert type(read["ratio"]) is float and read["flag"] is True and read["nothing"] is None
    assert read["whole"] == 2 and type(read["whole"]) is int  # a Struct cannot tell 2.0 from 2
    beyond = custom_of(make_template("t", "t", custom={"big": 2**53 + 2}))
    assert type(beyond["big"]) is float  # beyond +-2**53 a double is not an exact int


def test_interface_variables_are_sorted_by_name() -> None:
    interface = interface_pb2.TypedInterface()
    for name in ("b", "a", "c"):
        interface.inputs.variables[name].type.simple = types_pb2.INTEGER
    assert list(InterfaceCodec(interface).inputs) == ["a", "b", "c"]


def test_python_type_of_union_of_one() -> None:
    lt = LiteralType(union_type=types_pb2.UnionType(variants=[literal_type_of(int)]))
    assert python_type_of(lt) is int
    assert typing.get_args(python_type_of(literal_type_of(Color | None))) == (
        Literal["red", "green"], type(None))


def test_optional_packages_are_imported_only_to_convert_their_values() -> None:
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        from flyteidl.core import types_pb2
        from shimtask_core import make_template
        from shimtask_core.files import File
        from shimtask_core.literals import InterfaceCodec, LiteralType, struct_type
        types = {"f": File, "d": LiteralType(structured_dataset_type={}),
                 "s": LiteralType(schema=types_pb2.SchemaType()), "m": struct_type(msgpack=True)}
        codec = InterfaceCodec(make_template("t", "t", inputs=types, outputs=types).interface)
        assert len(codec.inputs) == 4
        import tempfile, pathlib
        from shimtask_core.context import ExecutionContext, using_context
        folder = pathlib.Path(tempfile.mkdtemp())
        (folder / "x.txt").write_text("local")
        with using_context(ExecutionContext(raw_output_prefix=str(folder / "raw"))):
            out = codec.outputs["f"].encode(str(folder / "x.txt"))  # local: no fsspec
        assert codec.outputs["f"].decode(out).read_text() == "local"
        print(sorted(m for m in ("pyarrow", "msgpack", "pandas", "fsspec") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_standalone_encoders_raise_user_errors() -> None:
    from shimtask_core.errors import classify

    with pytest.raises(ValueTypeError) as info:
        encoder_for(literal_type_of(list[int]))([1, "x"])
    assert str(info.value) == "value[1]: expected int, got str 'x'"
    assert classify(info.value) == ("ValueTypeError", "USER", False)
