"""Rows to Arrow record batches with one schema fixed before the first batch is written.

A parquet file has one schema, and the rows arrive a batch at a time, so each
column's Arrow type is decided up front:

* from the driver's description where it says (PostgreSQL's type OIDs through
  psycopg: ``int8`` is ``int64``, ``numeric(12,2)`` is ``decimal128(12, 2)``,
  ``timestamptz`` is ``timestamp[us, UTC]``...), converted without guessing;
* otherwise from the values of the first batches (up to a few of them while a
  column is still all NULL), then every later batch is cast to that type safely:
  a value that does not fit (a float in an integer column, a longer decimal
  scale) is an error naming the column, never a silent truncation;
* a column that stays all NULL takes the declared output column's type, else
  Arrow's ``null`` type.

JSON values are written as their JSON text; UUIDs, network addresses and other
values Arrow has no type for, as their text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["BatchMaker", "ColumnTypeError", "postgres_hints"]

#: Decimals whose precision the database does not fix get the widest decimal128.
_WIDE_PRECISION = 38


class ColumnTypeError(Exception):
    """A column's values do not fit the type its first rows (or the driver) gave it."""

    def __init__(self, column: str, arrow_type: Any, reason: str) -> None:
        self.column = column
        self.arrow_type = arrow_type
        super().__init__(
            f"column {column!r} is {arrow_type} from its first rows, but a later value does "
            f"not fit: {reason}. A dataset column has one type: CAST the column in the "
            f"query (for example CAST(x AS TEXT) or x::numeric(20, 6))")


@dataclass(frozen=True)
class Hint:
    """What the driver says about a column: its Arrow type and a per-value conversion."""

    arrow_type: Any | None  # None: infer from the values (after ``convert``)
    convert: Callable[[Any], Any] | None = None
    wide_decimal: bool = False  # an unconstrained numeric: infer the scale, widen


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def postgres_hints(description: Sequence[Any]) -> list[Hint | None]:
    """Hints from a psycopg (3 or 2) cursor description: built-in type OIDs."""
    import pyarrow as pa

    def numeric(column: Any) -> Hint:
        precision, scale = getattr(column, "precision", None), getattr(column, "scale", None)
        if isinstance(precision, int) and isinstance(scale, int) and precision > 0:
            kind = pa.decimal128 if precision <= 38 else pa.decimal256
            return Hint(kind(precision, scale))
        return Hint(None, wide_decimal=True)

    text, as_str = Hint(pa.string()), Hint(pa.string(), str)
    fixed: dict[int, Hint] = {
        16: Hint(pa.bool_()), 17: Hint(pa.binary(), bytes), 18: text, 19: text, 25: text,
        20: Hint(pa.int64()), 21: Hint(pa.int16()), 23: Hint(pa.int32()), 26: Hint(pa.int64()),
        114: Hint(pa.string(), _json_text), 3802: Hint(pa.string(), _json_text),
        142: text, 700: Hint(pa.float32()), 701: Hint(pa.float64()), 1042: text, 1043: text,
        1082: Hint(pa.date32()), 1083: Hint(pa.time64("us")), 1266: as_str,
        1114: Hint(pa.timestamp("us")), 1184: Hint(pa.timestamp("us", tz="UTC")),
        1186: Hint(pa.duration("us")), 2950: as_str, 650: as_str, 869: as_str, 829: as_str,
        774: as_str, 790: as_str,
    }
    hints: list[Hint | None] = []
    for column in description:
        oid = getattr(column, "type_code", None)
        if oid is None and isinstance(column, Sequence) and len(column) > 1:
            oid = column[1]  # a plain DB-API 7-tuple
        hints.append(numeric(column) if oid == 1700 else fixed.get(oid) if
                     isinstance(oid, int) else None)
    return hints


@dataclass
class _Column:
    name: str
    arrow_type: Any | None = None
    convert: Callable[[Any], Any] | None = None
    inferred: bool = True  # values are inferred, then cast safely to arrow_type
    wide_decimal: bool = False


class BatchMaker:
    """Turns lists of row tuples into RecordBatches of one schema.

    Call :meth:`observe` with the first batches of rows until :attr:`resolved`
    (or give up), then :meth:`schema` once, then :meth:`batch` for each batch.
    """

    def __init__(self, names: Sequence[str], hints: Sequence[Hint | None],
                 fallback: Mapping[str, Any] | None = None) -> None:
        self._columns = []
        for name, hint in zip(names, hints, strict=True):
            column = _Column(name)
            if hint is not None:
                column.convert = hint.convert
                column.wide_decimal = hint.wide_decimal
                if hint.arrow_type is not None:
                    column.arrow_type, column.inferred = hint.arrow_type, False
            self._columns.append(column)
        self._fallback = dict(fallback or {})
        self._schema: Any = None

    @property
    def resolved(self) -> bool:
        return all(c.arrow_type is not None for c in self._columns)

    def observe(self, rows: Sequence[Sequence[Any]]) -> None:
        """Infer the types of still-unknown columns from these rows."""
        import pyarrow as pa

        by_column = self._transpose(rows)
        for index, column in enumerate(self._columns):
            if column.arrow_type is not None:
                continue
            values = self._values(by_column[index], column)
            try:
                inferred = pa.array(values).type
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                column.convert = _text_of(column.convert)  # no Arrow type: keep its text
                column.arrow_type = pa.string()
                continue
            if pa.types.is_null(inferred):
                continue
            if column.wide_decimal and pa.types.is_decimal(inferred):
                # the first rows' scale, with room for any integer part that fits
                wide = inferred.precision > _WIDE_PRECISION
                inferred = (pa.decimal256(76, inferred.scale) if wide
                            else pa.decimal128(_WIDE_PRECISION, inferred.scale))
            column.arrow_type = inferred

    def schema(self) -> Any:
        """The schema, fixed now: unresolved columns take the declared type, else null."""
        import pyarrow as pa

        if self._schema is None:
            for column in self._columns:
                if column.arrow_type is None:
                    column.arrow_type = self._fallback.get(column.name) or pa.null()
            self._schema = pa.schema([(c.name, c.arrow_type) for c in self._columns])
        return self._schema

    def batch(self, rows: Sequence[Sequence[Any]]) -> Any:
        """One RecordBatch of the fixed schema."""
        import pyarrow as pa

        schema = self.schema()
        arrays = []
        by_column = self._transpose(rows)
        for index, column in enumerate(self._columns):
            values = self._values(by_column[index], column)
            try:
                if not column.inferred:
                    arrays.append(pa.array(values, type=column.arrow_type))
                    continue
                array = pa.array(values)
                if array.type != column.arrow_type:
                    array = (pa.nulls(len(array), column.arrow_type)
                             if pa.types.is_null(array.type)
                             else array.cast(column.arrow_type, safe=True))
                arrays.append(array)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                raise ColumnTypeError(column.name, column.arrow_type, str(exc)) from None
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _transpose(self, rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
        """Rows to columns in one pass at C speed."""
        return list(zip(*rows, strict=True)) if rows else [() for _ in self._columns]

    @staticmethod
    def _values(values: Sequence[Any], column: _Column) -> Sequence[Any]:
        convert = column.convert
        if convert is None:
            return values
        return [None if v is None else convert(v) for v in values]


def _text_of(convert: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    if convert is None:
        return str
    return lambda value: str(convert(value))
