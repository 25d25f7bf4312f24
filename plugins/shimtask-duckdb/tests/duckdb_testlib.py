"""Builders shared by the duckdb plugin's tests and its benchmark's checks."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from shimtask_core import make_template

CATEGORIES = ("books", "games", "music", "tools")


def sales_table(n: int = 400) -> Any:
    """Deterministic rows: id, category, value (float), quantity (int), note (some NULL)."""
    return pa.table({
        "id": list(range(n)),
        "category": [CATEGORIES[i % 4] for i in range(n)],
        "value": [round((i * 37) % 1000 / 10, 1) for i in range(n)],
        "quantity": [1 + (i * 7) % 20 for i in range(n)],
        "note": [None if i % 5 == 0 else f"n{i}" for i in range(n)],
    })


def template(query: str | list[str], *, inputs: dict[str, Any] | None = None,
             outputs: dict[str, Any] | None = None, name: str = "sales_query") -> Any:
    """A duckdb template; by default one dataset output, ``result``."""
    return make_template(name, "duckdb", inputs=inputs if inputs is not None else {},
                         outputs=outputs if outputs is not None else {"result": pa.Table},
                         custom={"query_template": query})
