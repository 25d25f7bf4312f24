"""Write the demo's parquet dataset, examples/data/cities.parquet (needs pyarrow).

    python examples/make_example_parquet.py [PATH]

The same 24 cities as the SQLite demo database (make_example_db.py), as a
parquet file: the dataset input of the duckdb example (duckdb_query.json), which
DuckDB scans where it lies. The content is fixed, so every run gives the same rows.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = HERE / "data" / "cities.parquet"
CITIES = runpy.run_path(str(HERE / "make_example_db.py"))["CITIES"]


def make_example_parquet(path: Path = DEFAULT) -> Path:
    """Write the cities dataset at ``path`` (replacing it) and return the path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    names, countries, populations = zip(*CITIES, strict=True)
    pq.write_table(pa.table({"name": list(names), "country": list(countries),
                             "population": list(populations)}), path)
    return path


def main(argv: list[str]) -> int:
    path = make_example_parquet(Path(argv[0]) if argv else DEFAULT)
    print(f"wrote {path} ({len(CITIES)} cities)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
