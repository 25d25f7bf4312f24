"""Cold start, end to end: `shimtask execute` vs flytekit's `pyflyte-execute`, same template.

Both run the SQLite3Task template that real flytekit serialized
(tests/data/flytekit/sqlite3_task.pb) on the same inputs.pb, each in a fresh
process, alternating so that machine noise hits both alike. Also measured: the
bare interpreter and each side's import, to show where the time goes.

    python bench/bench_cold.py [--runs 15]

flytekit runs in its own environment: SHIMTASK_FLYTEKIT_PYTHON, else
.venv-flytekit/bin/python (scripts/dev.py bench creates it).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "flytekit"


def flytekit_python() -> Path | None:
    candidate = Path(os.environ.get("SHIMTASK_FLYTEKIT_PYTHON",
                                    REPO / ".venv-flytekit" / "bin" / "python"))
    return candidate if candidate.exists() else None


def make_db(workdir: Path) -> None:
    db = workdir / "examples" / "data" / "example.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as conn:
        conn.execute("create table people (name text, age integer)")
        conn.executemany("insert into people values (?, ?)",
                         [("alice", 34), ("bob", 27), ("alice", 29), ("carol", 41)])


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall time and max RSS (KiB) of one fresh process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, rusage_status, rusage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if os.waitstatus_to_exitcode(rusage_status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{stderr}")
    return elapsed, rusage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    fk = flytekit_python()
    ours = Path(sys.executable)
    shimtask = ours.parent / "shimtask"
    work = Path(tempfile.mkdtemp(prefix="shimtask-bench-"))
    make_db(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIMTASK_")}
    env["SHIMTASK_CACHE_DIR"] = str(work / "cache")

    cases: dict[str, list[str]] = {
        "python -c pass (ours)": [str(ours), "-c", "pass"],
        "import shimtask_core.cli": [str(ours), "-c", "import shimtask_core.cli"],
        "shimtask execute (sqlite template)": [
            str(shimtask), "execute", "--inputs", str(FIXTURES / "inputs.pb"),
            "--output-prefix", str(work / "ours"), "--raw-output-data-prefix",
            str(work / "ours-raw"), "--", str(FIXTURES / "sqlite3_task.pb")],
    }
    if fk is not None:
        cases |= {
            "python -c pass (flytekit env)": [str(fk), "-c", "pass"],
            "import flytekit": [str(fk), "-c", "import flytekit"],
            "pyflyte-execute (sqlite template)": [
                str(fk.parent / "pyflyte-execute"), "--inputs", str(FIXTURES / "inputs.pb"),
                "--output-prefix", str(work / "theirs"), "--raw-output-data-prefix",
                str(work / "theirs-raw"), "--resolver",
                "flytekit.core.python_customized_container_task.default_task_template_resolver",
                "--", str(FIXTURES / "sqlite3_task.pb"),
                "flytekit.extras.sqlite3.task.SQLite3TaskExecutor"],
        }
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in cases}
    for name, cmd in cases.items():  # warm the page cache once
        timed(cmd, work, env)
    for _ in range(args.runs):
        for name, cmd in cases.items():
            samples[name].append(timed(cmd, work, env))

    results = {}
    print(f"{'case':40} {'median ms':>10} {'min ms':>8} {'max RSS MB':>11}")
    for name, values in samples.items():
        times = [t for t, _ in values]
        rss = max(r for _, r in values) / 1024
        results[name] = {"median_s": statistics.median(times), "min_s": min(times),
                         "max_rss_mb": rss}
        print(f"{name:40} {statistics.median(times) * 1e3:10.1f} {min(times) * 1e3:8.1f} "
              f"{rss:11.1f}")
    if fk is not None:
        ours_t = results["shimtask execute (sqlite template)"]["median_s"]
        theirs_t = results["pyflyte-execute (sqlite template)"]["median_s"]
        ours_m = results["shimtask execute (sqlite template)"]["max_rss_mb"]
        theirs_m = results["pyflyte-execute (sqlite template)"]["max_rss_mb"]
        print(f"\npyflyte-execute / shimtask execute: {theirs_t / ours_t:.1f}x wall time, "
              f"{theirs_m / ours_m:.1f}x memory")
    else:
        print("\n(flytekit environment not found: set SHIMTASK_FLYTEKIT_PYTHON for the ratio)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
