"""Literal maps from Python values and back, the way Flyte hands them to a task.

Thin on purpose: the codec (``shimtask_core.literals``) does the work, so a test
builds exactly the ``inputs.pb`` Flyte would send, validated against the
template's declared types.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import Literal, LiteralMap
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from flyteidl.core.types_pb2 import LiteralType


def literal_map(tt: TaskTemplate, values: Mapping[str, Any] | None = None, *,
                outputs: bool = False, data_dir: str | os.PathLike[str] | None = None,
                **kwargs: Any) -> LiteralMap:
    """The inputs (or, with ``outputs=True``, the outputs) of ``tt`` as a LiteralMap.

    Values are given as a mapping, as keyword arguments, or both; they are
    checked against the declared types (a wrong one raises ``ValueTypeError``).
    Offloaded values (datasets, files) are written under ``data_dir``, as the
    task that produced them would have; default: the codec's temporary prefix.
    """
    from shimtask_core.context import ExecutionContext, using_context
    from shimtask_core.literals import InterfaceCodec

    given = {**(values or {}), **kwargs}
    codec = InterfaceCodec(tt.interface)
    ctx = ExecutionContext(raw_output_prefix=os.fspath(data_dir)) if data_dir else None
    with using_context(ctx):
        return codec.encode_outputs(given) if outputs else codec.encode_inputs(given)


def decode_outputs(tt: TaskTemplate, literals: LiteralMap) -> dict[str, Any]:
    """An outputs LiteralMap as Python values by output name, validated by declared type."""
    from shimtask_core.literals import InterfaceCodec

    return InterfaceCodec(tt.interface).decode_outputs(literals)


def decode_inputs(tt: TaskTemplate, literals: LiteralMap) -> dict[str, Any]:
    """An inputs LiteralMap as the keyword arguments the executor would receive."""
    from shimtask_core.literals import InterfaceCodec

    return InterfaceCodec(tt.interface).decode_inputs(literals)


def _candidates() -> Iterator[Literal]:
    """Literals of different shapes: at least one of them is wrong for any declared type."""
    from flyteidl.core.literals_pb2 import Literal, LiteralCollection, Primitive, Scalar
    from google.protobuf.struct_pb2 import Struct

    yield Literal(scalar=Scalar(primitive=Primitive(string_value="not-the-declared-type")))
    yield Literal(scalar=Scalar(primitive=Primitive(integer=7)))
    yield Literal(scalar=Scalar(primitive=Primitive(boolean=True)))
    yield Literal(collection=LiteralCollection(literals=[
        Literal(scalar=Scalar(primitive=Primitive(string_value="x")))]))
    generic = Struct()
    generic.update({"not": "the declared type"})
    yield Literal(scalar=Scalar(generic=generic))


def wrong_literal(literal_type: LiteralType) -> Literal | None:
    """A literal that the codec refuses for ``literal_type`` (None if it accepts all shapes).

    Found by trying, not by a table, so it stays right for unions and optionals:
    for ``str | None`` a string is accepted and an integer is the wrong one. Only a
    union can accept every shape tried: for any other type a codec that refuses none
    of them is not checking the type (a regression, or a plugin that patched it), and
    the answer is a literal of another shape all the same (an integer for a string,
    else a string), so that a check built on it fails instead of finding nothing to try.
    """
    from flyteidl.core.interface_pb2 import TypedInterface, Variable, VariableMap
    from flyteidl.core.literals_pb2 import LiteralMap
    from flyteidl.core.types_pb2 import SimpleType

    from shimtask_core import ShimTaskError
    from shimtask_core.literals import InterfaceCodec

    codec = InterfaceCodec(TypedInterface(
        inputs=VariableMap(variables={"x": Variable(type=literal_type)})))
    for candidate in _candidates():
        probe = LiteralMap()
        probe.literals["x"].CopyFrom(candidate)
        try:
            codec.decode_inputs(probe)
        except ShimTaskError:
            return candidate
    if literal_type.WhichOneof("type") == "union_type":
        return None
    string, integer = list(_candidates())[:2]
    is_string = (literal_type.WhichOneof("type") == "simple"
                 and literal_type.simple == SimpleType.STRING)
    return integer if is_string else string
