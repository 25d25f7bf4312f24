"""The repository's duckdb example (what `python3 scripts/dev.py demo` runs)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from shimtask_core import ExecutorRegistry, parse_template, run_template

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding examples/data/cities.parquet, as the repository root does."""
    make = runpy.run_path(str(EXAMPLES / "make_example_parquet.py"))["make_example_parquet"]
    make(tmp_path / "examples" / "data" / "cities.parquet")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_duckdb_demo(workdir: Path, registry: ExecutorRegistry) -> None:
    cities = runpy.run_path(str(EXAMPLES / "make_example_db.py"))["CITIES"]
    tt = parse_template((EXAMPLES / "duckdb_query.json").read_bytes())
    inputs = json.loads((EXAMPLES / "duckdb_inputs.json").read_text())
    result = run_template(tt, registry=registry, **inputs)
    totals: dict[str, tuple[int, int]] = {}
    for _, country, population in cities:
        if population >= inputs["min_population"]:
            n, people = totals.get(country, (0, 0))
            totals[country] = (n + 1, people + population)
    expected = [{"country": c, "cities": n, "population": p}
                for c, (n, p) in sorted(totals.items(), key=lambda kv: -kv[1][1])]
    assert result.to_pylist() == expected
    assert expected[0] == {"country": "Japan", "cities": 7, "population": 27_330_000}
