"""Inputs as a new user gives them: one typed reader for ``-i`` text and JSON values.

Issue 14, findings 1 (``--inputs-json`` read by declared type), 3 (an overflowing
float literal is an error), 6 (out-of-range values are usage errors naming the
input), 7 (int64 range on float literals), 8 (one datetime grammar on every Python
version) and 9 (bare text for ``Optional[Enum]`` / ``Optional[File]``). The unit
tests call the reader; the CLI tests run the ``shimtask`` console script of a venv
where the test plugins are pip-installed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import sys
from pathlib import Path
from typing import Any, Optional

import pytest
from flyteidl.core import literals_pb2

from pluginenv import PluginVenv
from shimtask_core import File, ValueTypeError, make_template, template_to_json
from shimtask_core.errors import UsageError
from shimtask_core.literals import InterfaceCodec, literal_type_of
from shimtask_core.literals.timetext import parse_datetime, parse_duration
from shimtask_core.textinput import parse_json_value, parse_text_value

UTC = dt.timezone.utc
WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclasses.dataclass
class Meeting:
    title: str
    at: dt.datetime
    length: dt.timedelta
    moved: Optional[dt.datetime] = None  # noqa: UP045 - the flytekit spelling


def text(py_type: Any, value: str) -> Any:
    return parse_text_value("x", literal_type_of(py_type), value)


def from_json(py_type: Any, value: Any) -> Any:
    return parse_json_value("x", literal_type_of(py_type), value)


# --- finding 1: JSON values are read by declared type, in -i and --inputs-json alike ----


@pytest.mark.parametrize(
    ("py_type", "value", "expected"),
    [
        (dt.datetime, "2024-05-06T07:08:09Z", WHEN),
        (dt.timedelta, 90, dt.timedelta(seconds=90)),
        (dt.timedelta, 1.5, dt.timedelta(seconds=1.5)),
        (dt.timedelta, "1h30m", dt.timedelta(minutes=90)),
        (int, 7.0, 7),  # JSON has one number type
        (float, 7, 7.0),
        (Optional[dt.datetime], "2024-05-06T07:08:09Z", WHEN),  # noqa: UP045
        (Optional[dt.datetime], None, None),  # noqa: UP045
        (list[dt.datetime], ["2024-05-06T07:08:09Z"], [WHEN]),
        (dict[str, dt.timedelta], {"a": 60, "b": "2m"},
         {"a": dt.timedelta(minutes=1), "b": dt.timedelta(minutes=2)}),
        (Meeting, {"title": "t", "at": "2024-05-06T07:08:09Z", "length": 60},
         {"title": "t", "at": WHEN, "length": dt.timedelta(minutes=1)}),
        (list[Optional[int]], [1, None, 3.0], [1, None, 3]),  # noqa: UP045
        # in a union only the dataclass's JSON schema is left: its fields are read from it
        (Optional[Meeting], {"title": "t", "at": "20240506T070809Z", "length": "1m"},  # noqa: UP045
         {"title": "t", "at": WHEN, "length": dt.timedelta(minutes=1)}),
    ],
)
def test_json_values_are_read_by_declared_type(py_type: Any, value: Any, expected: Any) -> None:
    assert from_json(py_type, value) == expected
    if not isinstance(value, str) or py_type not in (dt.datetime, dt.timedelta):
        assert text(py_type, json.dumps(value)) == expected  # -i's JSON: the same reader


def test_a_dataclass_value_read_from_json_round_trips_through_its_literal() -> None:
    codec = InterfaceCodec(make_template("m", "x", inputs={"m": Meeting}).interface)
    value = from_json(Meeting, {"title": "t", "at": "2024-05-06T09:08:09+02:00",
                                "length": 90, "moved": None})
    decoded = codec.decode_inputs(codec.encode_inputs({"m": value}))["m"]
    assert decoded == {"title": "t", "at": WHEN, "length": dt.timedelta(seconds=90),
                       "moved": None}


@pytest.mark.parametrize(
    ("py_type", "value", "message"),
    [
        (int, 7.5, "input 'x' (int): expected int, got float 7.5"),
        (int, True, "expected int, got bool True"),
        (int, 2**63, "overflows int64"),
        (dt.datetime, 5, "expected datetime (ISO 8601 text), got int 5"),
        (list[dt.datetime], ["2024-05-06", "soon"], "input 'x[1]': 'soon' is not an ISO 8601"),
        (Meeting, {"title": "t", "at": "2024-05-06", "length": "forever"},
         "input \"x['length']\": 'forever' is not a duration"),
        (dict[str, int], [1], "expected dict[str, int] (a JSON object), got list [1]"),
    ],
)
def test_a_json_value_that_does_not_fit_names_the_input_and_the_place(
    py_type: Any, value: Any, message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        from_json(py_type, value)
    assert message in str(caught.value)


# --- finding 3 (input side): an overflowing float literal is an error -----------------


@pytest.mark.parametrize("value", ["1e400", "-1e400"])
def test_an_overflowing_float_literal_is_refused(value: str) -> None:
    with pytest.raises(UsageError, match="overflows a double"):
        text(float, value)
    with pytest.raises(UsageError, match="overflows a double"):
        text(list[float], f"[1, {value}]")


def test_infinity_and_nan_are_taken_when_asked_for_by_name() -> None:
    assert text(float, "inf") == math.inf
    assert math.isnan(text(float, "nan"))
    assert text(list[float], '["Infinity", "-Infinity", 1]') == [math.inf, -math.inf, 1.0]


# --- finding 6: out-of-range values are usage errors naming the input -----------------


@pytest.mark.parametrize(
    ("py_type", "value", "message"),
    [
        (dt.datetime, "0001-01-01T00:00:00+01:00", "outside the datetimes Flyte can hold"),
        (dt.timedelta, "inf", "not a finite duration"),
        (dt.timedelta, "1e20", "beyond the longest duration"),
        (int, "99999999999999999999", "overflows int64"),
        (int, "1e400", "got 1e400, which overflows int64"),  # was "got float inf"
    ],
)
def test_out_of_range_text_is_a_usage_error(py_type: Any, value: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        text(py_type, value)
    assert str(caught.value).startswith("input 'x' (") and message in str(caught.value)


def test_out_of_range_python_values_are_value_errors_not_crashes() -> None:
    """The codec refuses them too (run_template, the Python API), naming the input."""
    codec = InterfaceCodec(make_template("t", "x", inputs={"when": dt.datetime,
                                                           "dur": dt.timedelta}).interface)
    east = dt.timezone(dt.timedelta(hours=1))
    with pytest.raises(ValueTypeError, match=r"input 'when'.*outside the datetimes"):
        codec.encode_inputs({"when": dt.datetime(1, 1, 1, tzinfo=east),
                             "dur": dt.timedelta(0)})
    with pytest.raises(ValueTypeError, match=r"input 'dur'.*longest duration"):
        codec.encode_inputs({"when": WHEN, "dur": dt.timedelta(days=999_999_999)})


# --- finding 7: int64 range on integer inputs that arrive as float literals -----------


def test_a_float_literal_for_an_integer_input_is_range_checked() -> None:
    codec = InterfaceCodec(make_template("t", "x", inputs={"n": int}).interface)
    literals = literals_pb2.LiteralMap()
    literals.literals["n"].scalar.primitive.float_value = 1e30
    with pytest.raises(ValueTypeError) as caught:
        codec.decode_inputs(literals)
    assert caught.value.variable == "n" and "overflows int64" in str(caught.value)
    literals.literals["n"].scalar.primitive.float_value = 7.0  # the console's way: fine
    assert codec.decode_inputs(literals) == {"n": 7}


# --- finding 8: one datetime grammar on every Python version ---------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-06T07:08:09Z", WHEN),
        ("2024-05-06T07:08:09.5Z", WHEN.replace(microsecond=500000)),  # 3.10 refused it
        ("20240506T070809Z", WHEN),  # 3.10 refused it
        ("2024-05-06T07:08:09,25+00:00", WHEN.replace(microsecond=250000)),
        ("2024-05-06 09:08:09+02:00", WHEN),
        ("2024-05-06T07:08:09.123456000Z", WHEN.replace(microsecond=123456)),
        ("2024-05-06T07:08:09", WHEN),  # no offset: UTC
        ("2024-05-06", WHEN.replace(hour=0, minute=0, second=0)),
        ("2024-W19-1T07:08:09Z", WHEN),
    ],
)
def test_datetime_text_reads_the_same_on_every_python(value: str, expected: dt.datetime) -> None:
    assert parse_datetime(value) == expected
    assert text(dt.datetime, value) == expected


def test_nanoseconds_are_refused_rather_than_truncated() -> None:
    with pytest.raises(ValueError, match="digits beyond microseconds"):
        parse_datetime("2024-05-06T07:08:09.123456789Z")


def test_durations_read_seconds_units_and_iso_8601() -> None:
    assert parse_duration("PT1H30M") == parse_duration("1h30m") == dt.timedelta(minutes=90)
    assert parse_duration("P1DT2H") == dt.timedelta(days=1, hours=2)
    assert parse_duration("-90") == -dt.timedelta(seconds=90)


# --- finding 9: bare text for an Optional[Enum] or Optional[File] ----------------------


def test_optional_enum_file_and_datetime_take_the_bare_text() -> None:
    assert text(Optional[Color], "red") == "red"  # noqa: UP045
    assert text(Optional[Color], '"red"') == "red"  # noqa: UP045
    assert text(Optional[Color], "null") is None  # noqa: UP045
    assert text(Optional[File], "/data/x.csv") == "/data/x.csv"  # noqa: UP045
    assert text(Optional[dt.datetime], "2024-05-06T07:08:09Z") == WHEN  # noqa: UP045
    assert text(Optional[str], "7") == "7"  # noqa: UP045 - a string, since 7 is no str
    assert text(Optional[int], "7") == 7  # noqa: UP045
    with pytest.raises(UsageError, match="one of \\['red', 'green'\\]"):
        text(Optional[Color], "purple")  # noqa: UP045
    with pytest.raises(UsageError, match="invalid literal for int"):
        text(Optional[int], "seven")  # noqa: UP045


# --- through the CLI -----------------------------------------------------------------


@pytest.fixture
def times_template(tmp_path: Path) -> Path:
    tt = make_template("times", "echo",
                       inputs={"when": dt.datetime, "dur": dt.timedelta, "n": int,
                               "meet": Meeting},
                       outputs={"when": dt.datetime, "dur": dt.timedelta, "n": int,
                                "meet": Meeting})
    path = tmp_path / "times.json"
    path.write_text(template_to_json(tt))
    return path


def test_inputs_json_reads_datetimes_durations_integral_numbers_and_dataclass_fields(
    venv: PluginVenv, times_template: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({
        "when": "2024-05-06T07:08:09Z", "dur": 90, "n": 7.0,
        "meet": {"title": "standup", "at": "2024-05-06T07:08:09.5Z", "length": "15m"}}))
    result = venv.shimtask("run", str(times_template), "--inputs-json", str(inputs), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "when": "2024-05-06T07:08:09+00:00", "dur": 90.0, "n": 7,
        "meet": {"title": "standup", "at": "2024-05-06T07:08:09.500000+00:00",
                 "length": 900.0},
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "when=0001-01-01T00:00:00+01:00"], "input 'when' (datetime)"),
        (["-i", "dur=inf"], "input 'dur' (timedelta)"),
        (["-i", "dur=1e20"], "input 'dur' (timedelta)"),
        (["-i", "n=1e30"], "input 'n' (int)"),
        (["-i", 'meet={"title": "t", "at": "2024-05-06", "length": "forever"}'],
         "input \"meet['length']\""),
        (["-i", 'meet={"title": "t", "at": "2024-05-06"}'], "without field(s) 'length'"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_input(
    venv: PluginVenv, times_template: Path, args: list[str], message: str
) -> None:
    good = ["-i", "when=2024-05-06T07:08:09Z", "-i", "dur=1", "-i", "n=1",
            "-i", 'meet={"title": "t", "at": "2024-05-06", "length": 1}']
    result = venv.shimtask("run", str(times_template), *good, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shimtask: error: "), result.stderr
    assert message in lines[0] and "internal error" not in lines[0]


def test_an_unknown_name_in_inputs_json_is_a_usage_error(
    venv: PluginVenv, times_template: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"wehn": "2024-05-06"}')
    result = venv.shimtask("run", str(times_template), "--inputs-json", str(inputs))
    assert result.returncode == 2
    assert "the template has no input 'wehn'" in result.stderr


def test_malformed_inputs_json_names_line_and_column(
    venv: PluginVenv, times_template: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{\n  "n": 1,\n  "dur": 2\n  "when": "x"\n}')
    result = venv.shimtask("run", str(times_template), "--inputs-json", str(inputs))
    assert result.returncode == 2
    assert "line 4 column 3" in result.stderr, result.stderr


def test_the_grammar_is_the_same_under_this_interpreter() -> None:
    """Run under each of tox's py310..py313: nothing here depends on fromisoformat."""
    assert sys.version_info >= (3, 10)
    assert parse_datetime("20240506T070809.5Z") == WHEN.replace(microsecond=500000)
