"""Create the demo database, examples/data/example.db (standard library only).

    python examples/make_example_db.py [PATH]

Writes PATH (default: data/example.db next to this script), replacing it. The
content is fixed, so every run gives the same rows:

* ``cities``: 24 cities with their country and an approximate, rounded
  city-proper population (illustrative figures, not a census);
* ``people``: four people and their ages, which the flytekit-made test
  fixtures (tests/data/flytekit) query.

Templates name the database by the relative uri ``examples/data/example.db``,
which is resolved against the working directory (as flytekit does), so run
``shimtask run`` from the repository root.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent / "data" / "example.db"

CITIES = [
    # name, country, population (approximate, rounded)
    ("Tokyo", "Japan", 13_960_000),
    ("Yokohama", "Japan", 3_770_000),
    ("Osaka", "Japan", 2_750_000),
    ("Nagoya", "Japan", 2_330_000),
    ("Sapporo", "Japan", 1_970_000),
    ("Kyoto", "Japan", 1_460_000),
    ("Sendai", "Japan", 1_090_000),
    ("Kanazawa", "Japan", 460_000),
    ("Nara", "Japan", 350_000),
    ("São Paulo", "Brazil", 11_450_000),
    ("Rio de Janeiro", "Brazil", 6_210_000),
    ("Brasília", "Brazil", 2_820_000),
    ("Salvador", "Brazil", 2_420_000),
    ("Nairobi", "Kenya", 4_400_000),
    ("Mombasa", "Kenya", 1_210_000),
    ("Kisumu", "Kenya", 610_000),
    ("Toronto", "Canada", 2_790_000),
    ("Montréal", "Canada", 1_760_000),
    ("Vancouver", "Canada", 660_000),
    ("Lisbon", "Portugal", 550_000),
    ("Porto", "Portugal", 230_000),
    ("Braga", "Portugal", 190_000),
    ("Oslo", "Norway", 710_000),
    ("Bergen", "Norway", 290_000),
]

PEOPLE = [("alice", 34), ("bob", 27), ("alice", 29), ("carol", 41)]


def make_example_db(path: Path = DEFAULT) -> Path:
    """Write the example database at ``path`` (replacing it) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        with con:
            con.execute(
                "create table cities (name text primary key, country text not null, "
                "population integer not null)"
            )
            con.executemany("insert into cities values (?, ?, ?)", CITIES)
            con.execute("create table people (name text not null, age integer not null)")
            con.executemany("insert into people values (?, ?)", PEOPLE)
    finally:
        con.close()
    return path


def main(argv: list[str]) -> int:
    path = make_example_db(Path(argv[0]) if argv else DEFAULT)
    print(f"wrote {path} ({len(CITIES)} cities, {len(PEOPLE)} people)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
