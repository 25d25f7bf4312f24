"""The interface codec: a template's inputs and outputs, by name, validated.

:class:`InterfaceCodec` prepares a filler and a decoder for every declared
variable once, and maps outputs by **name**, never by protobuf map order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flyteidl.core import interface_pb2, literals_pb2, types_pb2

from .. import storage
from ..errors import (
    LimitExceeded,
    MissingInput,
    OutputMismatch,
    UnexpectedInput,
    UnsupportedType,
    ValueTypeError,
)
from .base import Decoder, LimitMismatch, Literal, LiteralMap, Mismatch, SimpleType, got
from .decode import decoder_for
from .encode import encoder_for, filler_for
from .types import declares_dataclass, describe, nesting


class _Variable:
    __slots__ = ("decode", "encode", "expected", "fields", "fill", "is_dict", "name",
                 "optional")

    def __init__(self, name: str, lt: types_pb2.LiteralType, *, lazy: bool = False,
                 by_reference: bool = False, direction: str = "value") -> None:
        from ..limits import current  # SHIMTASK_MAX_DEPTH

        self.name = name
        self.expected = describe(lt)
        limits = current()
        depth = nesting(lt)
        if depth > limits.depth:  # a template can declare list[list[...]] 95 levels deep
            raise limits.exceeded("depth", f"the declared type of {direction} {name!r}", depth)
        try:
            self.fill = filler_for(lt, by_reference=by_reference)
            self.decode = _lazy_decoder(lt) if lazy else decoder_for(lt)
        except UnsupportedType as exc:
            raise UnsupportedType(exc.type_description, variable=name) from None
        self.encode = encoder_for(lt, fill=self.fill)
        self.optional = _accepts_none(lt)
        self.is_dict = _is_dict_type(lt)
        #: the field names of a dataclass type, or of an optional one (None for any other)
        self.fields = _dataclass_field_names(lt)


def _dataclass_field_names(lt: types_pb2.LiteralType) -> frozenset[str] | None:
    """The field names of a dataclass type, or of the one dataclass in a union (an
    ``Optional[Point]``); None for any other type."""
    kind = lt.WhichOneof("type")
    if kind == "union_type":
        found = [names for v in lt.union_type.variants
                 if (names := _dataclass_field_names(v)) is not None]
        return found[0] if len(found) == 1 else None
    if kind != "simple" or lt.simple != SimpleType.STRUCT or not declares_dataclass(lt):
        return None
    from .dataclass_fields import declared_fields  # when one is met (import cost)

    return frozenset(declared_fields(lt))


def _accepts_none(lt: types_pb2.LiteralType) -> bool:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return bool(lt.simple == SimpleType.NONE)
    if kind == "union_type":
        return any(_accepts_none(v) for v in lt.union_type.variants)
    return False


def _is_dict_type(lt: types_pb2.LiteralType) -> bool:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return lt.simple in (SimpleType.STRUCT, SimpleType.BINARY)
    if kind == "map_value_type":
        return True
    if kind == "union_type":
        return any(_is_dict_type(v) for v in lt.union_type.variants)
    return False


def _position(name: str) -> int:
    """``7`` for ``o7``; -1 for any other name (``s²``: ``"²".isdigit()``, but no int)."""
    digits = name[1:]
    return int(digits) if digits.isascii() and digits.isdigit() else -1


def _positional_names(names: list[str]) -> bool:
    return names == [f"o{i}" for i in range(len(names))]


_DATASET_KINDS = frozenset({"structured_dataset_type", "schema"})


def _lazy_decoder(lt: types_pb2.LiteralType) -> Decoder:
    """A dataset's decoder that reads nothing (a DatasetRef); any other type's usual one."""
    kind = lt.WhichOneof("type")
    if kind in _DATASET_KINDS:
        from . import external  # loaded when a dataset is met (import cost)

        return external.converter(kind).decoder(lt, lazy=True)
    return decoder_for(lt)


def _variables(variable_map: interface_pb2.VariableMap, direction: str, *,
               lazy_datasets: bool = False, by_reference: bool = False) -> dict[str, _Variable]:
    return {name: _Variable(name, var.type, lazy=lazy_datasets, by_reference=by_reference,
                            direction=direction)
            for name, var in sorted(variable_map.variables.items())}


def _load_offloaded(lit: literals_pb2.Literal) -> literals_pb2.Literal:
    """Flyte stores big literals elsewhere and passes ``offloaded_metadata`` (flytekit >= 1.13)."""
    from google.protobuf.message import DecodeError

    from ..limits import current  # SHIMTASK_MAX_INPUTS_BYTES bounds each offloaded one

    uri = lit.offloaded_metadata.uri
    most = current().inputs_bytes
    data = storage.read_bytes(uri, limit=most)
    if len(data) > most:
        raise LimitMismatch("inputs_bytes", len(data), most, at_least=True)
    loaded = Literal()
    try:
        loaded.ParseFromString(data)
    except DecodeError as exc:  # a file that is not a Literal: the sender's mistake
        raise Mismatch("an offloaded Literal", f"{uri!r}, which holds no Literal "
                                               f"protobuf ({exc})") from None
    return loaded


class InterfaceCodec:
    """Converts a template's inputs and outputs, by name, with validation.

    Build one per template and reuse it: every per-type decision is made here,
    once, so a call only runs the prepared fillers and decoders.
    """

    __slots__ = ("_outputs_by_index", "_single_output", "inputs", "outputs")

    def __init__(self, interface: interface_pb2.TypedInterface, *,
                 lazy_datasets: bool = False) -> None:
        """``lazy_datasets``: structured-dataset *inputs* decode to ``DatasetRef``s.

        Local files, directories and datasets given as inputs are passed by their path
        (:meth:`encode_inputs` copies nothing); outputs are uploaded under the raw
        output prefix, where the next task can read them.
        """
        self.inputs = _variables(interface.inputs, "input", lazy_datasets=lazy_datasets,
                                 by_reference=True)
        self.outputs = _variables(interface.outputs, "output")
        names = sorted(self.outputs, key=_position)
        self._outputs_by_index = (
            [self.outputs[n] for n in names] if _positional_names(names) else None
        )
        self._single_output = next(iter(self.outputs.values())) if len(self.outputs) == 1 else None

    # inputs

    def decode_inputs(self, literal_map: literals_pb2.LiteralMap) -> dict[str, Any]:
        """Flyte inputs -> keyword arguments for the executor."""
        literals = literal_map.literals
        values: dict[str, Any] = {}
        given = 0
        for name, var in self.inputs.items():
            if name in literals:
                given += 1
                values[name] = _decode_variable(var, literals[name], "input")
            elif var.optional:
                values[name] = None
            else:
                raise MissingInput(name, var.expected)
        if len(literals) > given:
            extra = sorted(n for n in literals if n not in self.inputs)
            raise UnexpectedInput(extra, sorted(self.inputs))
        return values

    def encode_inputs(self, values: Mapping[str, Any]) -> literals_pb2.LiteralMap:
        """Python inputs -> a validated LiteralMap (what Flyte would pass)."""
        extra = sorted(n for n in values if n not in self.inputs)
        if extra:
            raise UnexpectedInput(extra, sorted(self.inputs))
        literal_map = LiteralMap()
        literals = literal_map.literals
        for name, var in self.inputs.items():
            if name in values:
                value = values[name]
            elif var.optional:
                value = None
            else:
                raise MissingInput(name, var.expected)
            _fill_variable(var, value, literals[name], "input")
        return literal_map

    # outputs

    def encode_outputs(self, result: Any) -> literals_pb2.LiteralMap:
        """The executor's return value -> the outputs LiteralMap, mapped by name."""
        literal_map = LiteralMap()
        literals = literal_map.literals
        single = self._single_output
        if single is not None and (single.is_dict or not isinstance(result, Mapping)):
            if (single.fields is not None and isinstance(result, Mapping)
                    and list(result) == [single.name] and single.name not in single.fields):
                result = result[single.name]  # {"point": {...}} for the one output "point"
            _fill_variable(single, result, literals[single.name], "output")
            return literal_map
        by_name = self.outputs_by_name(result)
        for name, var in self.outputs.items():
            _fill_variable(var, by_name[name], literals[name], "output")
        return literal_map

    def outputs_by_name(self, result: Any) -> dict[str, Any]:
        """Pair a return value with output names: never by protobuf map order.

        * no outputs: the executor returns ``None``;
        * one output: the value itself (or ``{name: value}`` when the type is not a dict;
          another dict for it is an OutputMismatch naming the keys that are wrong);
        * several: a dict (or NamedTuple) keyed by name; a plain tuple only when the
          names are flytekit's positional ``o0, o1, ...``.
        """
        outputs = self.outputs
        if not outputs:
            if result is not None:
                raise OutputMismatch(
                    f"the template declares no outputs but the executor returned {got(result)}"
                )
            return {}
        if len(outputs) == 1:
            (name,) = outputs
            if isinstance(result, Mapping) and not outputs[name].is_dict:
                if list(result) == [name]:
                    return dict(result)
                raise self._mismatch(result, f"; for one output, return the value itself or "
                                             f"{{{name!r}: value}}")
            return {name: result}
        if isinstance(result, tuple) and hasattr(result, "_asdict"):
            result = result._asdict()
        if isinstance(result, Mapping):
            return self._outputs_from_mapping(result)
        if isinstance(result, (tuple, list)):
            return self._outputs_from_sequence(result)
        declared = sorted(outputs)
        raise OutputMismatch(
            f"the template declares outputs {', '.join(declared)}; the executor returned "
            f"{got(result)} instead of a dict keyed by output name",
            declared=declared,
        )

    def _outputs_from_mapping(self, result: Mapping[Any, Any]) -> dict[str, Any]:
        """Several outputs returned as a dict: exactly the declared names."""
        if set(result) != set(self.outputs):
            raise self._mismatch(result)
        return dict(result)

    def _mismatch(self, result: Mapping[Any, Any], hint: str = "") -> OutputMismatch:
        """The OutputMismatch for a dict whose keys are not the declared output names."""
        declared = sorted(self.outputs)
        missing = [n for n in declared if n not in result]
        extra = sorted(str(n) for n in result if n not in self.outputs)
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"unknown {', '.join(map(repr, extra))}")
        return OutputMismatch(
            f"executor outputs do not match the template: {'; '.join(parts)} "
            f"(declared: {', '.join(declared)}){hint}",
            declared=declared,
        )

    def _outputs_from_sequence(self, result: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
        """Several outputs returned as a tuple: only for flytekit's positional names."""
        declared = sorted(self.outputs)
        by_index = self._outputs_by_index
        if by_index is None:
            raise OutputMismatch(
                f"the executor returned a {type(result).__name__} for outputs "
                f"{', '.join(declared)}; return a dict keyed by output name (a tuple "
                f"is only accepted for flytekit's positional names o0, o1, ...)",
                declared=declared,
            )
        if len(result) != len(by_index):
            raise OutputMismatch(
                f"the executor returned {len(result)} values for "
                f"{len(by_index)} outputs ({', '.join(declared)})",
                declared=declared,
            )
        return {var.name: value for var, value in zip(by_index, result, strict=True)}

    def decode_outputs(self, literal_map: literals_pb2.LiteralMap) -> dict[str, Any]:
        """An outputs LiteralMap -> Python values by name (for callers of run_template)."""
        literals = literal_map.literals
        values = {}
        for name, var in self.outputs.items():
            if name not in literals:
                raise OutputMismatch(f"output {name!r} is missing", declared=sorted(self.outputs))
            values[name] = _decode_variable(var, literals[name], "output")
        return values


def _decode_variable(var: _Variable, lit: literals_pb2.Literal, direction: str) -> Any:
    try:
        if lit.HasField("offloaded_metadata"):
            lit = _load_offloaded(lit)
        return var.decode(lit)
    except (Mismatch, UnsupportedType) as exc:
        raise _convert_error(exc, var, direction) from None
    except RecursionError:  # cannot happen within the limits; never a SYSTEM error if it does
        raise _too_deep(var, direction) from None


def _fill_variable(var: _Variable, value: Any, target: literals_pb2.Literal,
                   direction: str) -> None:
    try:
        var.fill(value, target)
    except (Mismatch, UnsupportedType) as exc:
        raise _convert_error(exc, var, direction) from None
    except RecursionError:  # a value whose own methods recurse (a custom Mapping, ...)
        raise _too_deep(var, direction) from None


def _too_deep(var: _Variable, direction: str) -> LimitExceeded:
    from ..limits import current

    limits = current()
    return limits.exceeded("depth", f"{direction} {var.name!r}", limits.depth, at_least=True)


def _convert_error(exc: Exception, var: _Variable, direction: str) -> Exception:
    if isinstance(exc, UnsupportedType):
        return UnsupportedType(exc.type_description, variable=var.name)
    assert isinstance(exc, Mismatch)
    where = var.name + "".join(exc.path)
    if isinstance(exc, LimitMismatch):
        from ..limits import current

        inside = "".join(exc.path)
        if len(inside) > 40:  # 30 levels of ['a'] say less than the limit does
            inside = inside[:37] + "..."
        subject = f"{direction} {var.name!r}" + (f" at {inside}" if inside else "")
        return current().exceeded(exc.limit, subject, exc.value, at_least=exc.at_least)
    return ValueTypeError(where, var.expected if not exc.path else exc.expected, exc.got,
                          direction=direction)
