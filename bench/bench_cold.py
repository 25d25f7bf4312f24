"""Cold start, end to end: `shimtask execute` vs flytekit's `pyflyte-execute`, same template.

Two templates, each run by both sides in fresh processes, alternating so that
machine noise hits both alike:

* the SQLite3Task template that real flytekit serialized
  (tests/data/flytekit/sqlite3_task.pb): a query, and a parquet output written
  with pyarrow (which alone costs ~25 ms to import);
* a trivial template (int in, int out) whose executor adds one: the framework's
  own overhead. flytekit runs it with an equivalent ShimTaskExecutor subclass
  imported by its dotted path, as its resolver does. Ours runs it twice: as
  `shimtask execute` and through the image's `pyflyte-execute` (the
  shimtask-pyflyte-execute distribution, flytekit's args).

The floor: a bare Python process that imports the flyteidl modules the contract
needs, reads the same template and inputs.pb, adds one and writes outputs.pb
atomically (temporary file and rename), exiting as our console script does
(os._exit after the synchronous writes). Nothing can start faster and still
honour the contract.

Also measured: the bare interpreter and each side's import. Targets (issue 9):
trivial template >= 13x faster than pyflyte-execute and within 1.2x of the
floor; SQLite3Task >= 10x; peak RSS <= 30 % of flytekit's.

    python bench/bench_cold.py [--runs 15]
    python bench/bench_cold.py --callgrind   # instructions instead of time (valgrind)

Ours runs in a fresh venv holding shimtask-core and shimtask-sqlite3 as a user
installs them: pip-installed wheels, so their modules are compiled once at install
as pip does (not the editable development install, whose import hook costs ~8 ms per
start, nor the working tree, whose modules other work may be editing while this runs;
with PYTHONDONTWRITEBYTECODE set, a stale .pyc would be recompiled on every start).
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "flytekit"
sys.path.insert(0, str(REPO / "tests"))

from kitenv import core_wheel  # noqa: E402
from pluginenv import PluginVenv, build_wheel, repo_plugin_wheel  # noqa: E402
from shimtask_core import make_template  # noqa: E402
from shimtask_core.literals import InterfaceCodec  # noqa: E402

OURS_INC = """
from shimtask_core import ShimTaskExecutor

class Inc(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return inputs["x"] + 1
"""

FLYTEKIT_INC = """
from flytekit.core.shim_task import ShimTaskExecutor

class Inc(ShimTaskExecutor):
    def execute_from_model(self, tt, **kwargs):
        return kwargs["x"] + 1
"""


FLOOR = """
import os
import sys

from flyteidl.core import errors_pb2, literals_pb2, tasks_pb2  # noqa: F401 - the contract's

template, inputs, out = sys.argv[1:4]
tt = tasks_pb2.TaskTemplate()
with open(template, "rb") as fh:
    tt.ParseFromString(fh.read())
given = literals_pb2.LiteralMap()
with open(inputs, "rb") as fh:
    given.ParseFromString(fh.read())
result = literals_pb2.LiteralMap()
result.literals["o0"].scalar.primitive.integer = given.literals["x"].scalar.primitive.integer + 1
os.makedirs(out, exist_ok=True)
tmp = os.path.join(out, ".outputs.pb.tmp")
with open(tmp, "wb") as fh:
    fh.write(result.SerializeToString())
os.replace(tmp, os.path.join(out, "outputs.pb"))
sys.stdout.flush()
os._exit(0)
"""


def write_trivial(work: Path) -> tuple[Path, Path]:
    tt = make_template("inc", "inc", inputs={"x": int}, outputs={"o0": int})
    template = work / "inc.pb"
    template.write_bytes(tt.SerializeToString())
    inputs = work / "inc-inputs.pb"
    inputs.write_bytes(InterfaceCodec(tt.interface).encode_inputs({"x": 41}).SerializeToString())
    (work / "fk_inc.py").write_text(FLYTEKIT_INC)
    (work / "floor.py").write_text(FLOOR)
    return template, inputs


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


# Linux carries a process's peak RSS across fork and exec, so a child forked from this
# script would report at least this script's RSS (~22 MB, more than a trivial run
# needs). Each command is started by a small launcher (python -I -S) that only forks,
# execs and reports the child's wall time and peak RSS, as bench_duckdb does.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stdout carries only the report
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall time and max RSS (KiB) of one fresh process."""
    done = subprocess.run([sys.executable, "-I", "-S", "-c", LAUNCHER, *cmd], cwd=cwd,
                          env=env, capture_output=True, text=True, check=False)
    try:
        elapsed, rss, status = done.stdout.split()
    except ValueError:
        raise SystemExit(f"launcher failed: {' '.join(cmd)}\n{done.stderr[-4000:]}") from None
    if int(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{done.stderr[-4000:]}")
    return float(elapsed), int(rss)


def instructions(cmd: list[str], cwd: Path, env: dict[str, str]) -> int:
    """User-space instructions of one fresh process (valgrind's callgrind): the same on
    every run, where wall time on a shared machine is not. Counted with a fixed hash
    seed, since string hashing changes dict probing from run to run."""
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           *cmd], cwd=cwd, env={**env, "PYTHONHASHSEED": "0"},
                          capture_output=True, text=True, check=False)
    for line in done.stderr.splitlines():
        if "Collected :" in line:
            if done.returncode != 0:
                raise SystemExit(f"command failed: {' '.join(cmd)}\n{done.stderr[-4000:]}")
            return int(line.rsplit(":", 1)[1])
    raise SystemExit(f"callgrind failed: {' '.join(cmd)}\n{done.stderr[-4000:]}")


def callgrind_main(cases: dict[str, list[str]], work: Path, env: dict[str, str],
                   json_path: str | None) -> int:
    """The trivial template's instructions, ours against the floor."""
    names = ("floor (trivial template)", "shimtask execute (trivial template)",
             "shimtask pyflyte-execute (trivial template)", "import shimtask_core.cli",
             "python -c pass (ours)")
    for _ in range(2):  # see warm(): the plugin index is written, then stays valid
        for name in names:
            instructions(cases[name], work, env)
    counts = {name: instructions(cases[name], work, env) for name in names}
    floor = counts["floor (trivial template)"]
    for name, count in counts.items():
        print(f"{name:44} {count / 1e6:9.2f} M instructions  {count / floor:.3f}x the floor")
    if json_path:
        Path(json_path).write_text(json.dumps({"callgrind_instructions": counts}, indent=2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--callgrind", action="store_true",
                        help="count the trivial template's instructions (valgrind) instead "
                        "of timing every case")
    args = parser.parse_args()
    fk = flytekit_python()
    work = Path(tempfile.mkdtemp(prefix="shimtask-bench-"))
    # What `pip install shimtask-core[arrow] shimtask-sqlite3` (and the image) holds:
    # pyarrow without pandas, numpy or dateutil, each of which pyarrow imports on its
    # first table whenever it is installed (pandas alone ~250 ms). flytekit's side
    # keeps them: flytekit requires pandas and numpy.
    env_dir = PluginVenv(work / "venv", without=("pandas", "numpy", "dateutil", "pytz", "six"))
    (env_dir.site_packages / "shimtask_core").unlink()  # the core as pip installs it
    (env_dir.root / "bin" / "shimtask").unlink()
    env_dir.install(
        core_wheel(work / "core"),
        repo_plugin_wheel(work / "wheels", "shimtask-sqlite3"),
        repo_plugin_wheel(work / "wheels", "shimtask-pyflyte-execute"),
        build_wheel(work / "inc", "shimtask-bench-inc", modules={"bench_inc.py": OURS_INC},
                    executors={"inc": "bench_inc:Inc"}),
    )
    inc_template, inc_inputs = write_trivial(work)
    ours = env_dir.python
    shimtask = env_dir.root / "bin" / "shimtask"
    make_db(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIMTASK_")}
    env["SHIMTASK_CACHE_DIR"] = str(work / "cache")
    # made now: creating it at the first index write would change the mtime of `work`,
    # a sys.path entry below (PYTHONPATH), and so invalidate the index just written
    (work / "cache").mkdir()
    env["PYTHONPATH"] = str(work)  # flytekit imports fk_inc.Inc by its dotted path

    cases: dict[str, list[str]] = {
        "python -c pass (ours)": [str(ours), "-c", "pass"],
        "import shimtask_core.cli": [str(ours), "-c", "import shimtask_core.cli"],
        "shimtask execute (sqlite template)": [
            str(shimtask), "execute", "--inputs", str(FIXTURES / "inputs.pb"),
            "--output-prefix", str(work / "ours"), "--raw-output-data-prefix",
            str(work / "ours-raw"), "--", str(FIXTURES / "sqlite3_task.pb")],
        "shimtask execute (trivial template)": [
            str(shimtask), "execute", "--inputs", str(inc_inputs), "--output-prefix",
            str(work / "ours-inc"), "--raw-output-data-prefix", str(work / "ours-raw"), "--",
            str(inc_template)],
        "shimtask pyflyte-execute (trivial template)": [
            str(env_dir.root / "bin" / "pyflyte-execute"), "--inputs", str(inc_inputs),
            "--output-prefix", str(work / "ours-pfe"), "--raw-output-data-prefix",
            str(work / "ours-raw"), "--resolver",
            "flytekit.core.python_customized_container_task.default_task_template_resolver",
            "--", str(inc_template), "fk_inc.Inc"],
        "floor (trivial template)": [
            str(ours), str(work / "floor.py"), str(inc_template), str(inc_inputs),
            str(work / "floor-out")],
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
            "pyflyte-execute (trivial template)": [
                str(fk.parent / "pyflyte-execute"), "--inputs", str(inc_inputs),
                "--output-prefix", str(work / "theirs-inc"), "--raw-output-data-prefix",
                str(work / "theirs-raw"), "--resolver",
                "flytekit.core.python_customized_container_task.default_task_template_resolver",
                "--", str(inc_template), "fk_inc.Inc"],
        }
    if args.callgrind:
        return callgrind_main(cases, work, env, args.json)
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in cases}
    # Warm the page cache, and write the plugin index: twice, since the first pass also
    # makes the output directories in `work`, a sys.path entry (PYTHONPATH) whose mtime
    # is part of the index's key; measured runs must all read a valid index, as a pod's
    # image does.
    for _ in range(2):
        for cmd in cases.values():
            timed(cmd, work, env)
    for _ in range(args.runs):
        for name, cmd in cases.items():
            samples[name].append(timed(cmd, work, env))

    results = {}
    print(f"{'case':44} {'median ms':>10} {'min ms':>8} {'max RSS MB':>11}")
    for name, values in samples.items():
        times = [t for t, _ in values]
        rss = max(r for _, r in values) / 1024
        results[name] = {"median_s": statistics.median(times), "min_s": min(times),
                         "max_rss_mb": rss}
        print(f"{name:44} {statistics.median(times) * 1e3:10.1f} {min(times) * 1e3:8.1f} "
              f"{rss:11.1f}")

    def ratio(slow: str, fast: str) -> str:
        a, b = results[slow], results[fast]
        return (f"{a['median_s'] / b['median_s']:.2f}x median, "
                f"{a['min_s'] / b['min_s']:.2f}x min")

    print()
    print(f"trivial template, shimtask execute / floor: "
          f"{ratio('shimtask execute (trivial template)', 'floor (trivial template)')} "
          f"(target <= 1.2x)")
    print(f"trivial template, shimtask's pyflyte-execute / floor: "
          f"{ratio('shimtask pyflyte-execute (trivial template)', 'floor (trivial template)')}")
    if fk is not None:
        targets = {"trivial template": "13x", "sqlite template": "10x"}
        for template in ("trivial template", "sqlite template"):
            ours_r = results[f"shimtask execute ({template})"]
            theirs_r = results[f"pyflyte-execute ({template})"]
            print(f"{template}: pyflyte-execute / shimtask execute = "
                  f"{ratio(f'pyflyte-execute ({template})', f'shimtask execute ({template})')} "
                  f"(target >= {targets[template]}); peak RSS "
                  f"{100 * ours_r['max_rss_mb'] / theirs_r['max_rss_mb']:.0f} % of flytekit's "
                  f"(target <= 30 %)")
    else:
        print("\n(flytekit environment not found: set SHIMTASK_FLYTEKIT_PYTHON for the ratio)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
