"""Rows stream: peak memory grows with the batch, not with the result.

Each run is a fresh ``shimtask execute`` process whose peak RSS its parent reads
with ``getrusage(RUSAGE_CHILDREN)``. A 20x larger result (about 100 MB as Arrow
data) may raise the peak by a fraction of its size only; holding the rows, as
flytekit's ``pd.read_sql_query`` does, would raise it by several times its size.
No timings are asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from flyteidl.core import literals_pb2, types_pb2

from conftest import reader_url
from pgserver import PostgresServer
from shimtask_core import make_template, template_to_json
from shimtask_core.literals import InterfaceCodec

SCHEMA = types_pb2.LiteralType(schema=types_pb2.SchemaType())
QUERY = ("select g as id, md5(g::text) as digest, repeat('x', 200) as pad, g * 1.5 as f "
         "from generate_series(1, {{ .inputs.n }}) g")
PEAK_OF_CHILD = ("import resource, subprocess, sys\n"
                 "done = subprocess.run(sys.argv[1:])\n"
                 "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
SMALL, LARGE = 20_000, 400_000


def shimtask() -> list[str]:
    script = Path(sys.executable).parent / "shimtask"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from shimtask_core.cli import main; "
            "sys.exit(main())"]


def peak_rss(tmp: Path, tt: Any, n: int) -> tuple[int, Path]:
    """Peak RSS in bytes of one ``shimtask execute`` of the query for n rows."""
    inputs = tmp / f"inputs-{n}.pb"
    inputs.write_bytes(InterfaceCodec(tt.interface).encode_inputs({"n": n}).SerializeToString())
    out = tmp / f"out-{n}"
    done = subprocess.run(
        [sys.executable, "-c", PEAK_OF_CHILD, *shimtask(), "execute", "--inputs", str(inputs),
         "--output-prefix", str(out), "--raw-output-data-prefix", str(tmp / f"raw-{n}"),
         "--template", str(tmp / "template.json")],
        capture_output=True, text=True, timeout=600)
    status, kib = done.stdout.split()
    assert status == "0", done.stderr + (out / "error.pb").read_bytes().decode(errors="replace")
    outputs = literals_pb2.LiteralMap()
    outputs.ParseFromString((out / "outputs.pb").read_bytes())
    return int(kib) * 1024, Path(outputs.literals["results"].scalar.structured_dataset.uri)


def test_peak_memory_grows_with_the_batch_not_the_result(
    postgres: PostgresServer, db: Any, tmp_path: Path
) -> None:
    tt = make_template("many_rows", "sqlalchemy", inputs={"n": int},
                       outputs={"results": SCHEMA},
                       custom={"query_template": QUERY, "uri": reader_url(postgres),
                               "connect_args": {}, "secret_connect_args": None})
    (tmp_path / "template.json").write_text(template_to_json(tt))
    small, _ = peak_rss(tmp_path, tt, SMALL)
    large, dataset = peak_rss(tmp_path, tt, LARGE)
    table = pq.read_table(dataset / "00000")
    assert table.num_rows == LARGE and table.column("id")[-1].as_py() == LARGE
    data = table.nbytes
    assert data > 90 * 2**20  # the large result is big enough to matter
    growth = large - small
    assert growth < 0.4 * data, (
        f"peak RSS grew by {growth / 2**20:.0f} MiB ({small / 2**20:.0f} -> "
        f"{large / 2**20:.0f} MiB) for {data / 2**20:.0f} MiB more data: rows are held, "
        f"not streamed")
