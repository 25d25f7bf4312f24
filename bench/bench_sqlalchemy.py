"""A 200,000-row PostgreSQL query: `shimtask execute` vs flytekit's `pyflyte-execute`.

The same template, serialized by flytekit's own SQLAlchemyTask
(flytekitplugins-sqlalchemy 1.16.31), runs against a throwaway PostgreSQL server
(initdb/pg_ctl on 127.0.0.1, as the plugin's tests start it): once through
`shimtask execute` (the sqlalchemy plugin: a server-side cursor, rows streamed
to parquet in batches) and once through `pyflyte-execute` (flytekit's executor:
`pd.read_sql_query`, the whole result in a DataFrame), sides alternating, each
a fresh process. Reports wall time (min and median) and peak RSS, and the ratios.

    python bench/bench_sqlalchemy.py [--rows 200000] [--runs 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "plugins" / "shimtask-sqlalchemy" / "tests"), str(REPO / "tests")]

import pyarrow.parquet as pq  # noqa: E402
from flyteidl.core import literals_pb2  # noqa: E402

from pgserver import PostgresUnavailable, find_bindir, running_server  # noqa: E402
from pluginenv import PluginVenv, repo_plugin_wheel  # noqa: E402

QUERY = ("select id, name, score, seen, note from big where id > {{ .inputs.min_id }} "
         "order by id")
SERIALIZE = """
import sys
from collections import OrderedDict
from flytekit import FlyteContextManager, kwtypes
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.type_engine import TypeEngine
from flytekit.tools.translator import get_serializable
from flytekitplugins.sqlalchemy import SQLAlchemyConfig, SQLAlchemyTask

uri, query, out = sys.argv[1:4]
task = SQLAlchemyTask("big_query", query_template=query, inputs=kwtypes(min_id=int),
                      task_config=SQLAlchemyConfig(uri=uri))
settings = SerializationSettings(image_config=ImageConfig.auto_default_image(),
                                 project="bench", domain="development", version="v1")
tt = get_serializable(OrderedDict(), settings, task).template.to_flyte_idl()
open(out + "/template.pb", "wb").write(tt.SerializeToString())
ctx = FlyteContextManager.current_context()
lits = TypeEngine.dict_to_literal_map(ctx, {"min_id": 0}, {"min_id": int})
open(out + "/inputs.pb", "wb").write(lits.to_flyte_idl().SerializeToString())
"""
# Each command runs under a tiny launcher that forks, execs and reports the child's
# wall time and peak RSS (a fork from this script would inherit this script's RSS).
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""
RESOLVER = "flytekit.core.python_customized_container_task.default_task_template_resolver"


def flytekit_python() -> Path | None:
    candidate = Path(os.environ.get("SHIMTASK_FLYTEKIT_PYTHON",
                                    REPO / ".venv-flytekit" / "bin" / "python"))
    return candidate if candidate.exists() else None


def timed(cmd: list[str], env: dict[str, str], out: Path, rows: int) -> tuple[float, int]:
    """Wall time and peak RSS of one run, which must have written all the rows."""
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", LAUNCHER, *cmd], env=env,
                          capture_output=True, text=True, check=False)
    elapsed, rss, status = done.stdout.split()
    if int(status) != 0 or not (out / "outputs.pb").exists():  # pyflyte-execute exits 0
        error = out / "error.pb"
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{done.stderr[-4000:]}\n"
                         f"{error.read_bytes()[-4000:] if error.exists() else ''!r}")
    outputs = literals_pb2.LiteralMap()
    outputs.ParseFromString((out / "outputs.pb").read_bytes())
    uri = outputs.literals["results"].scalar.structured_dataset.uri
    written = pq.ParquetDataset(uri).read(columns=["id"]).num_rows
    if written != rows:
        raise SystemExit(f"{cmd[0]} wrote {written} rows, not {rows}")
    return float(elapsed), int(rss) * 1024


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="shimtask-bench-sqlalchemy-"))
    try:
        return run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    fk = flytekit_python()
    if fk is None:
        print("flytekit environment not found: python3 scripts/dev.py bench creates it, or "
              "set SHIMTASK_FLYTEKIT_PYTHON")
        return 1
    try:
        find_bindir()
    except PostgresUnavailable as exc:
        print(f"skipped: {exc}")
        return 0
    import psycopg

    # What `pip install shimtask-sqlalchemy` holds: no pandas or numpy (pyarrow imports
    # pandas on its first conversion whenever it is installed). flytekit's side keeps
    # them: its SQLAlchemyTask needs pandas.
    ours = PluginVenv(work / "venv", without=("pandas", "numpy", "dateutil", "pytz", "six"))
    ours.link_distributions("sqlalchemy", "psycopg", "psycopg-binary")
    ours.install(repo_plugin_wheel(work / "wheels", "shimtask-sqlalchemy"))
    shimtask = ours.root / "bin" / "shimtask"
    with running_server() as server:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute("create table big as select g::bigint as id, md5(g::text) as name, "
                         "(g %% 100000)::numeric(10, 2) / 7 as score, "
                         "timestamptz '2024-01-01' + g * interval '1 second' as seen, "
                         "repeat('n', 40) as note from generate_series(1, %s) g",
                         (args.rows,))
        uri = server.url()
        made = subprocess.run([str(fk), "-c", SERIALIZE, uri, QUERY, str(work)],
                              capture_output=True, text=True, check=False)
        if made.returncode != 0:
            raise SystemExit(made.stderr[-4000:])
        template, inputs = work / "template.pb", work / "inputs.pb"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIMTASK_")}
        env["SHIMTASK_CACHE_DIR"] = str(work / "cache")
        cases = {
            "shimtask execute": [str(shimtask), "execute", "--inputs", str(inputs),
                                 "--output-prefix", str(work / "ours"),
                                 "--raw-output-data-prefix", str(work / "ours-raw"), "--",
                                 str(template)],
            "pyflyte-execute": [str(fk.parent / "pyflyte-execute"), "--inputs", str(inputs),
                                "--output-prefix", str(work / "theirs"),
                                "--raw-output-data-prefix", str(work / "theirs-raw"),
                                "--resolver", RESOLVER, "--", str(template),
                                "flytekitplugins.sqlalchemy.task.SQLAlchemyTaskExecutor"],
        }
        outs = {"shimtask execute": work / "ours", "pyflyte-execute": work / "theirs"}
        for name, cmd in cases.items():  # warm the page cache and the server's buffers
            timed(cmd, env, outs[name], args.rows)
        samples: dict[str, list[tuple[float, int]]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, cmd in cases.items():
                samples[name].append(timed(cmd, env, outs[name], args.rows))
    results = {}
    print(f"{args.rows:,} rows, {args.runs} runs each")
    print(f"{'case':20} {'median s':>9} {'min s':>7} {'peak RSS MiB':>13}")
    for name, values in samples.items():
        times = [t for t, _ in values]
        rss = max(r for _, r in values) / 2**20
        results[name] = {"median_s": statistics.median(times), "min_s": min(times),
                         "max_rss_mib": rss}
        print(f"{name:20} {statistics.median(times):9.2f} {min(times):7.2f} {rss:13.0f}")
    ours, theirs = results["shimtask execute"], results["pyflyte-execute"]
    print(f"\npyflyte-execute / shimtask execute: {theirs['median_s'] / ours['median_s']:.2f}x "
          f"median, {theirs['min_s'] / ours['min_s']:.2f}x min; peak RSS "
          f"{100 * ours['max_rss_mib'] / theirs['max_rss_mib']:.0f} % of flytekit's")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": args.rows, **results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
