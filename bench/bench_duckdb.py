"""DuckDB over a 1,000,000-row parquet dataset: `shimtask execute` vs flytekit's DuckDBQuery.

Both sides run the same SQL on the same inputs.pb (one structured dataset, a
flytekit-shaped directory holding the parquet file 00000), each in a cold process,
end to end: read the template and inputs, run the query, write the result as a
parquet dataset and outputs.pb. Sides alternate within every round, so machine
noise hits both alike. Two queries:

* ``aggregate``: a group-by over every row (4 columns read, 20 rows out);
* ``select``: a filtered select (about 100,000 rows and 4 columns out).

Ours: ``shimtask execute`` of a duckdb template (``make_template``), in a fresh venv
holding shimtask-core and the shimtask-duckdb wheel as a user installs them:
pip-installed wheels (compiled at install), with duckdb and pyarrow and without
pandas or numpy, which neither shimtask-duckdb, duckdb nor pyarrow requires (and
which, when present, duckdb and pyarrow import: ~10 MB more at the peak).
Theirs: ``pyflyte-execute`` of flytekit's serialized DuckDBQuery task (its resolver
imports the task from its module, as a Flyte pod does), in the flytekit
environment (SHIMTASK_FLYTEKIT_PYTHON, else .venv-flytekit/bin/python), with
flytekitplugins-duckdb 1.16.31 and the duckdb it pins (1.0.0).

    python bench/bench_duckdb.py [--runs 7] [--rows 1000000] [--json FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from kitenv import core_wheel  # noqa: E402
from pluginenv import PluginVenv, repo_plugin_wheel  # noqa: E402

QUERIES = {
    "aggregate": ("select category, count(*) as n, sum(value) as total, "
                  "avg(quantity) as mean_quantity from sales group by category order by category"),
    "select": "select id, category, value, ts from sales where value > 80 and quantity < 25",
}

FLYTEKIT_TASKS = '''
from flytekit import StructuredDataset, kwtypes
from flytekitplugins.duckdb import DuckDBQuery

QUERIES = {queries!r}

aggregate = DuckDBQuery(name="aggregate", query=QUERIES["aggregate"],
                        inputs=kwtypes(sales=StructuredDataset))
select = DuckDBQuery(name="select", query=QUERIES["select"],
                     inputs=kwtypes(sales=StructuredDataset))
'''

FLYTEKIT_CHECK = """
import sys
sys.path.insert(0, sys.argv[1])
import fk_bench_duckdb  # the tasks import and construct
"""


def flytekit_python() -> Path | None:
    candidate = Path(os.environ.get("SHIMTASK_FLYTEKIT_PYTHON",
                                    REPO / ".venv-flytekit" / "bin" / "python"))
    return candidate if candidate.exists() else None


def make_sales(folder: Path, rows: int) -> None:
    """The dataset: id, category (20 values), value [0, 100), quantity 1..49, ts (UTC)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    categories = np.array([f"cat{i:02d}" for i in range(20)])
    start = 1_700_000_000_000_000
    table = pa.table({
        "id": np.arange(rows),
        "category": categories[rng.integers(0, 20, rows)],
        "value": rng.random(rows) * 100,
        "quantity": rng.integers(1, 50, rows).astype("int32"),
        "ts": pa.array(start + np.arange(rows) * 1_000_000).cast(pa.timestamp("us", tz="UTC")),
    })
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "00000")


def write_inputs(work: Path, sales: Path) -> Path:
    """One inputs.pb for both sides: the dataset as Flyte passes it, a URI and a format."""
    from flyteidl.core import literals_pb2

    inputs = literals_pb2.LiteralMap()
    dataset = inputs.literals["sales"].scalar.structured_dataset
    dataset.uri = str(sales)
    dataset.metadata.structured_dataset_type.format = "parquet"
    path = work / "inputs.pb"
    path.write_bytes(inputs.SerializeToString())
    return path


def write_our_templates(work: Path) -> dict[str, Path]:
    import pyarrow as pa

    from shimtask_core import make_template

    paths = {}
    for name, query in QUERIES.items():
        tt = make_template(name, "duckdb", inputs={"sales": pa.Table},
                           outputs={"result": pa.Table}, custom={"query_template": query})
        paths[name] = work / f"ours-{name}.pb"
        paths[name].write_bytes(tt.SerializeToString())
    return paths


def our_venv(work: Path) -> PluginVenv:
    """A fresh venv with the shimtask-duckdb wheel; duckdb linked (with its metadata, which
    it reads at import) as the venv links pyarrow."""
    env = PluginVenv(work / "venv", without=("pandas", "numpy", "dateutil", "pytz", "six"))
    (env.site_packages / "shimtask_core").unlink()  # the core as pip installs it
    (env.root / "bin" / "shimtask").unlink()
    env.install(core_wheel(work / "core"))
    spec = importlib.util.find_spec("duckdb")
    if spec is None or spec.origin is None:
        raise SystemExit("duckdb is not installed here: pip install -e plugins/shimtask-duckdb")
    site = Path(spec.origin).parent.parent
    for target in [site / "duckdb", *site.glob("_duckdb*.so"), *site.glob("duckdb-*.dist-info")]:
        link = env.site_packages / target.name
        if not link.exists():
            link.symlink_to(target, target_is_directory=target.is_dir())
    env.install(repo_plugin_wheel(work / "wheels", "shimtask-duckdb"))
    return env


# Linux carries a process's peak RSS across fork and exec, so a child forked from this
# script (which holds pyarrow and the generated data) would report at least this
# script's RSS. Each command is therefore started by a small launcher process that
# only forks, execs and reports the child's wall time and peak RSS.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one fresh process."""
    done = subprocess.run([sys.executable, "-I", "-S", "-c", LAUNCHER, *cmd], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    elapsed, rss, status = done.stdout.split()
    if int(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{done.stderr[-4000:]}")
    return float(elapsed), int(rss)


def result_rows(output_prefix: Path) -> list[dict[str, object]]:
    import pyarrow.parquet as pq
    from flyteidl.core import literals_pb2

    outputs = literals_pb2.LiteralMap()
    outputs.ParseFromString((output_prefix / "outputs.pb").read_bytes())
    table = pq.read_table(outputs.literals["result"].scalar.structured_dataset.uri)
    rows = table.to_pylist()
    return sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))


def same(a: list[dict[str, object]], b: list[dict[str, object]]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x.keys() != y.keys():
            return False
        for key in x:
            u, v = x[key], y[key]
            if isinstance(u, float) and isinstance(v, float):
                if abs(u - v) > 1e-9 * max(1.0, abs(u)):
                    return False
            elif u != v:
                return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    fk = flytekit_python()
    work = Path(tempfile.mkdtemp(prefix="shimtask-bench-duckdb-"))
    make_sales(work / "sales", args.rows)
    inputs = write_inputs(work, work / "sales")
    ours = write_our_templates(work)
    venv = our_venv(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIMTASK_", "PYTHON"))}
    env["SHIMTASK_CACHE_DIR"] = str(work / "cache")
    env["PYTHONPATH"] = str(work)  # flytekit's resolver imports fk_bench_duckdb by name

    def our_cmd(name: str, out: Path) -> list[str]:
        return [str(venv.root / "bin" / "shimtask"), "execute", "--inputs", str(inputs),
                "--output-prefix", str(out), "--raw-output-data-prefix", str(out / "raw"),
                "--template", str(ours[name])]

    def their_cmd(name: str, out: Path) -> list[str]:
        assert fk is not None
        return [str(fk.parent / "pyflyte-execute"), "--inputs", str(inputs),
                "--output-prefix", str(out), "--raw-output-data-prefix", str(out / "raw"),
                "--resolver", "flytekit.core.python_auto_container.default_task_resolver",
                "--", "task-module", "fk_bench_duckdb", "task-name", name]

    sides = {"shimtask execute": our_cmd}
    if fk is not None:
        (work / "fk_bench_duckdb.py").write_text(FLYTEKIT_TASKS.format(queries=QUERIES))
        subprocess.run([str(fk), "-c", FLYTEKIT_CHECK, str(work)], check=True, env=env)
        sides["pyflyte-execute"] = their_cmd

    # warm the page cache once, and check both sides compute the same rows
    for name in QUERIES:
        results = {}
        for side, cmd in sides.items():
            out = work / "check" / side.split()[0] / name
            timed(cmd(name, out), work, env)
            results[side] = result_rows(out)
        if len(results) == 2 and not same(*results.values()):
            raise SystemExit(f"{name}: the two sides returned different rows")
        print(f"{name}: {len(next(iter(results.values())))} rows out, "
              f"{'same on both sides' if len(results) == 2 else 'shimtask only'}")

    samples: dict[tuple[str, str], list[tuple[float, int]]] = {
        (q, s): [] for q in QUERIES for s in sides}
    for run in range(args.runs):
        order = list(sides) if run % 2 == 0 else list(sides)[::-1]
        for name in QUERIES:
            for side in order:
                out = work / "runs" / f"{run}-{side.split()[0]}-{name}"
                samples[(name, side)].append(timed(sides[side](name, out), work, env))
                shutil.rmtree(out, ignore_errors=True)

    results: dict[str, dict[str, float]] = {}
    print(f"\n{args.rows:,} rows, {args.runs} cold runs per side, alternating")
    print(f"{'case':36} {'median ms':>10} {'min ms':>8} {'peak RSS MB':>12}")
    for (name, side), values in samples.items():
        times = [t for t, _ in values]
        key = f"{side} ({name})"
        results[key] = {"median_s": statistics.median(times), "min_s": min(times),
                        "max_rss_mb": max(r for _, r in values) / 1024}
        print(f"{key:36} {results[key]['median_s'] * 1e3:10.0f} "
              f"{results[key]['min_s'] * 1e3:8.0f} {results[key]['max_rss_mb']:12.0f}")
    if fk is not None:
        print()
        for name in QUERIES:
            o, t = results[f"shimtask execute ({name})"], results[f"pyflyte-execute ({name})"]
            print(f"{name}: flytekit / shimtask = {t['min_s'] / o['min_s']:.1f}x (min), "
                  f"{t['median_s'] / o['median_s']:.1f}x (median) wall time; shimtask's peak "
                  f"RSS is {100 * o['max_rss_mb'] / t['max_rss_mb']:.0f}% of flytekit's")
    else:
        print("\n(flytekit environment not found: set SHIMTASK_FLYTEKIT_PYTHON for the ratios)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
