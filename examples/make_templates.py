"""Regenerate the example templates (protobuf-JSON) from Python, without flytekit.

    python examples/make_templates.py

Writes sqlite_query.json and duckdb_query.json next to this script. The generated file is committed,
so the demo needs no build step; rerun this after changing a template here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flyteidl.core import types_pb2

from shimtask_core import make_template, template_to_json

HERE = Path(__file__).resolve().parent

# A string placeholder inside quotes (as flytekit users write it; shimtask binds it as a
# parameter, quotes dropped) and a bare integer placeholder.
CITIES_QUERY = """\
select name, population
from cities
where country = '{{ .inputs.country }}' and population >= {{ .inputs.min_population }}
order by population desc"""

# DuckDB over a parquet dataset: the input `cities` is a view named after it, and the
# bound integer filters it; the rows stream out as a parquet dataset.
COUNTRIES_QUERY = """\
select country, count(*) as cities, sum(population) as population
from cities
where population >= {{ .inputs.min_population }}
group by country
order by population desc"""

PARQUET_DATASET = types_pb2.LiteralType(
    structured_dataset_type=types_pb2.StructuredDatasetType(format="parquet"))


def templates() -> dict[str, Any]:
    """File name -> TaskTemplate, for every example template."""
    return {
        "sqlite_query.json": make_template(
            "cities_by_country",
            "sqlite",
            inputs={"country": str, "min_population": int},
            outputs={"results": list[dict]},
            descriptions={
                "country": "the country's English name, e.g. Japan",
                "min_population": "the smallest population to list",
                "results": "the matching cities, largest first",
            },
            custom={
                "query_template": CITIES_QUERY,
                # Relative to the working directory, as flytekit resolves it: run from the
                # repository root after `python examples/make_example_db.py`.
                "uri": "examples/data/example.db",
                "compressed": False,
            },
            project="shimtask",
            domain="development",
            version="example-v1",
        ),
        "duckdb_query.json": make_template(
            "countries_by_population",
            "duckdb",
            inputs={"cities": PARQUET_DATASET, "min_population": int},
            outputs={"result": PARQUET_DATASET},
            descriptions={
                "cities": "a parquet dataset of cities: name, country, population",
                "min_population": "the smallest city to count",
                "result": "per country: the cities counted and their population",
            },
            custom={"query_template": COUNTRIES_QUERY},
            project="shimtask",
            domain="development",
            version="example-v1",
        ),
    }


def main() -> int:
    for name, tt in templates().items():
        (HERE / name).write_text(template_to_json(tt) + "\n")
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
