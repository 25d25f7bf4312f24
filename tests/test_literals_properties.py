"""Property tests: python -> literal -> bytes -> literal -> python is the identity.

Over nested shapes built by hypothesis (collections of maps of unions of
enums, dataclasses of lists, ...), for every type flytekit declares, with
untyped dicts both as msgpack (flytekit >= 1.14) and as generic Structs.
"""

from __future__ import annotations

from typing import Any

from flytekit_interop.specs import literal_type, same, spec_and_values, values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shimtask_core.literals import Literal, LiteralMap, decoder_for, encoder_for, literal_type_of

SETTINGS = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _through_bytes(lit: Any) -> Any:
    again = Literal()
    again.ParseFromString(lit.SerializeToString())
    return again


@SETTINGS
@given(spec_and_values())
def test_round_trip_is_identity_with_msgpack_dicts(case: tuple[dict[str, Any], list[Any]]) -> None:
    spec, examples = case
    lt = literal_type(spec, msgpack=True)
    encode, decode = encoder_for(lt), decoder_for(lt)
    for value in examples:
        back = decode(_through_bytes(encode(value)))
        assert same(back, value), (spec, value, back)


@SETTINGS
@given(spec_and_values(generic=True))
def test_round_trip_is_identity_with_generic_dicts(case: tuple[dict[str, Any], list[Any]]) -> None:
    """Structs hold doubles: integral numbers come back as int (equal, not identical)."""
    spec, examples = case
    lt = literal_type(spec, msgpack=False)
    encode, decode = encoder_for(lt), decoder_for(lt)
    for value in examples:
        back = decode(_through_bytes(encode(value)))
        assert same(back, value, loose_numbers=True), (spec, value, back)


@SETTINGS
@given(st.data())
def test_float_lists_fast_path_is_exact(data: st.DataObject) -> None:
    xs = data.draw(st.lists(st.floats(allow_nan=False) | st.integers(-2**53, 2**53),
                            max_size=300))
    lt = literal_type_of(list[float])
    lit = _through_bytes(encoder_for(lt)(xs))
    assert [p.scalar.primitive.float_value for p in
            (x for x in lit.collection.literals)] == [float(x) for x in xs]
    assert decoder_for(lt)(lit) == [float(x) for x in xs]
    assert all(type(x) is float for x in decoder_for(lt)(lit))


@SETTINGS
@given(spec_and_values(dataclasses=False))
def test_interface_round_trip_by_name(case: tuple[dict[str, Any], list[Any]]) -> None:
    from shimtask_core.literals import InterfaceCodec
    from shimtask_core.template import make_template

    spec, examples = case
    lt = literal_type(spec)
    names = [f"v{i}" for i in range(len(examples))]
    tt = make_template("t", "t", inputs=dict.fromkeys(names, lt), outputs=dict.fromkeys(names, lt))
    codec = InterfaceCodec(tt.interface)
    given_values = dict(zip(names, examples, strict=True))
    inputs = LiteralMap()
    inputs.ParseFromString(codec.encode_inputs(given_values).SerializeToString())
    decoded = codec.decode_inputs(inputs)
    assert same(decoded, given_values)
    outputs = LiteralMap()
    result = decoded if len(names) > 1 else decoded["v0"]  # one output: the value itself
    outputs.ParseFromString(codec.encode_outputs(result).SerializeToString())
    assert same(codec.decode_outputs(outputs), given_values)


def test_strategies_cover_the_nested_shapes() -> None:
    """The generator reaches the shapes the issue names (a guard against a narrowed strategy)."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(spec_and_values())
    def collect(case: tuple[dict[str, Any], list[Any]]) -> None:
        text = repr(case[0])
        for shape in ("'list'", "'map'", "'union'", "'optional'", "'enum'", "'dataclass'",
                      "'dict'", "'datetime'", "'duration'"):
            if shape in text:
                seen.add(shape)

    collect()
    assert len(seen) == 9, seen
    assert values  # the strategy module is importable on its own
