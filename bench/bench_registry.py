"""The registry at scale: 1,000 installed plugin distributions, one of them broken.

Compares, in the same run and on the same synthetic installation:

* ``importlib.metadata.entry_points(group=...)`` (what most code does), and
  loading one name from it;
* pluggy's ``PluginManager.load_setuptools_entrypoints`` (imports every plugin;
  it stops at the first broken one, so it is timed on the 999 healthy ones and
  the broken run is reported separately);
* ``ExecutorRegistry().names()`` and ``.resolve(name)``: without the index
  (``SHIMTASK_NO_INDEX=1``: a scan), building the index (cold), and from the
  index (warm).

Every measurement runs in a fresh interpreter (nothing cached in
``sys.modules``); the time is taken inside it around the operation, so the
interpreter's own start is not counted, nor is importing ``shimtask_core``
itself (which every plugin imports anyway). Warm ``names()`` is also measured
in-process, many times over (a new registry each time, reading the index).

    python bench/bench_registry.py [--dists 1000] [--runs 7] [--json]

The distributions are written directly as ``.dist-info`` directories (what pip
leaves behind): pip-installing a thousand wheels would take minutes and measure
nothing different (``tests/distsite.py`` writes them, for the tests too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from distsite import GROUP, MODULE_PREFIX, executor_name, make_site

# --- the measurements (each runs in a fresh interpreter) ---------------------------------

_SCENARIOS = {
    "importlib.metadata entry_points()": """
        t0 = perf_counter()
        import importlib.metadata as md
        t1 = perf_counter()
        names = sorted(ep.name for ep in md.entry_points(group=GROUP))
        t2 = perf_counter()
        report(import_s=t1 - t0, op_s=t2 - t1, total_s=t2 - t0, count=len(names))
    """,
    "importlib.metadata load one": """
        import shimtask_core  # the plugin imports it: not part of the comparison
        t0 = perf_counter()
        import importlib.metadata as md
        (ep,) = md.entry_points(group=GROUP, name=NAME)
        cls = ep.load()
        t1 = perf_counter()
        report(op_s=t1 - t0, total_s=t1 - t0, loaded=loaded())
    """,
    "pluggy load_setuptools_entrypoints (999 healthy)": """
        import pluggy
        import shimtask_core  # every plugin imports it: not part of the comparison
        t0 = perf_counter()
        pm = pluggy.PluginManager("shimtask")
        n = pm.load_setuptools_entrypoints(GROUP)
        t1 = perf_counter()
        report(op_s=t1 - t0, total_s=t1 - t0, count=n, loaded=loaded())
    """,
    "pluggy load_setuptools_entrypoints (with the broken one)": """
        import pluggy
        import shimtask_core  # every plugin imports it: not part of the comparison
        t0 = perf_counter()
        pm = pluggy.PluginManager("shimtask")
        try:
            pm.load_setuptools_entrypoints(GROUP)
            error = None
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        t1 = perf_counter()
        report(op_s=t1 - t0, total_s=t1 - t0, error=error, loaded=loaded())
    """,
    "shimtask names() no index (scan)": """
        t0 = perf_counter()
        from shimtask_core.registry import ExecutorRegistry
        t1 = perf_counter()
        names = ExecutorRegistry(index=False).names()
        t2 = perf_counter()
        report(import_s=t1 - t0, op_s=t2 - t1, total_s=t2 - t0, count=len(names),
               metadata_imported="importlib.metadata" in sys.modules)
    """,
    "shimtask names() cold index (scan + write)": """
        from shimtask_core.registry import ExecutorRegistry
        import shimtask_core.index as index
        index.clear()
        t1 = perf_counter()
        reg = ExecutorRegistry()
        names = reg.names()
        t2 = perf_counter()
        report(op_s=t2 - t1, total_s=t2 - t1, count=len(names), status=reg.index_state().status)
    """,
    "shimtask names() warm index": """
        from shimtask_core.registry import ExecutorRegistry
        ExecutorRegistry().names()  # make sure the index exists
        t1 = perf_counter()
        reg = ExecutorRegistry()
        names = reg.names()
        t2 = perf_counter()
        report(op_s=t2 - t1, total_s=t2 - t1, count=len(names), status=reg.index_state().status,
               metadata_imported="importlib.metadata" in sys.modules)
    """,
    "shimtask resolve() no index": """
        from shimtask_core.registry import ExecutorRegistry
        t1 = perf_counter()
        cls = ExecutorRegistry(index=False).resolve(NAME)
        t2 = perf_counter()
        report(op_s=t2 - t1, total_s=t2 - t1, loaded=loaded())
    """,
    "shimtask resolve() warm index": """
        from shimtask_core.registry import ExecutorRegistry
        ExecutorRegistry().names()  # make sure the index exists
        t1 = perf_counter()
        cls = ExecutorRegistry().resolve(NAME)
        t2 = perf_counter()
        report(op_s=t2 - t1, total_s=t2 - t1, loaded=loaded(),
               metadata_imported="importlib.metadata" in sys.modules,
               fsspec_imported="fsspec" in sys.modules)
    """,
    "shimtask names() warm index, in-process x200": """
        from shimtask_core.registry import ExecutorRegistry
        ExecutorRegistry().names()
        times = []
        for _ in range(200):
            t1 = perf_counter()
            ExecutorRegistry().names()
            times.append(perf_counter() - t1)
        times.sort()
        report(op_s=times[len(times) // 2], total_s=times[len(times) // 2], best_s=times[0])
    """,
}

_PRELUDE = """
import json, sys
from time import perf_counter
GROUP = {group!r}
NAME = {name!r}
PREFIX = {prefix!r}
def loaded():
    return sum(1 for m in list(sys.modules) if m.startswith(PREFIX))
def report(**values):
    print("@@" + json.dumps(values))
"""


def run_scenario(code: str, env: Mapping[str, str], cwd: Path, name: str) -> dict[str, object]:
    prelude = _PRELUDE.format(group=GROUP, name=name, prefix=MODULE_PREFIX)
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"scenario failed:\n{code}\n{proc.stderr}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("@@"))
    result: dict[str, object] = json.loads(line[2:])
    return result


def bench_env(root: Path, paths: Sequence[Path], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIMTASK_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join(map(str, paths))
    env["SHIMTASK_CACHE_DIR"] = str(root / "cache")
    env.update(extra)
    return env


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dists", type=int, default=1000, help="installed plugin distributions")
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per measurement")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="shimtask-bench-registry-") as tmp:
        root = Path(tmp)
        site, site_broken = make_site(root, args.dists)
        work = root / "work"
        work.mkdir()
        everything = bench_env(root, [site, site_broken])
        healthy = bench_env(root, [site])
        no_index = bench_env(root, [site, site_broken], SHIMTASK_NO_INDEX="1")
        name = executor_name(args.dists // 3)
        envs = {
            "pluggy load_setuptools_entrypoints (999 healthy)": healthy,
            "shimtask names() no index (scan)": no_index,
            "shimtask resolve() no index": no_index,
        }
        results: dict[str, dict[str, object]] = {}
        for title, code in _SCENARIOS.items():
            env = envs.get(title, everything)
            runs = [run_scenario(code, env, work, name) for _ in range(args.runs)]
            summary = dict(runs[-1])
            for key in ("op_s", "total_s", "import_s"):
                if key in summary:
                    summary[key] = statistics.median(float(r[key]) for r in runs)  # type: ignore[arg-type]
            results[title] = summary
    if args.json:
        print(json.dumps({"dists": args.dists, "results": results}, indent=2))
        return 0
    _print(args.dists, results)
    return 0


def _ms(seconds: object) -> str:
    return f"{float(seconds) * 1000:8.2f} ms"  # type: ignore[arg-type]


def _print(dists: int, results: dict[str, dict[str, object]]) -> None:
    print(f"{dists} installed plugin distributions (one broken), median of fresh processes\n")
    for title, r in results.items():
        extra = {k: v for k, v in r.items() if k not in ("op_s", "total_s", "import_s")}
        imported = f"  (import {_ms(r['import_s']).strip()})" if "import_s" in r else ""
        print(f"{title:58s} {_ms(r['op_s'])}{imported}  {json.dumps(extra)}")
    warm = float(results["shimtask names() warm index"]["op_s"])  # type: ignore[arg-type]
    warm_loop = float(results["shimtask names() warm index, in-process x200"]["op_s"])  # type: ignore[arg-type]
    md_call = float(results["importlib.metadata entry_points()"]["op_s"])  # type: ignore[arg-type]
    md_total = float(results["importlib.metadata entry_points()"]["total_s"])  # type: ignore[arg-type]
    pluggy = float(results["pluggy load_setuptools_entrypoints (999 healthy)"]["op_s"])  # type: ignore[arg-type]
    scan = float(results["shimtask names() no index (scan)"]["op_s"])  # type: ignore[arg-type]
    md_one = float(results["importlib.metadata load one"]["op_s"])  # type: ignore[arg-type]
    resolve = float(results["shimtask resolve() warm index"]["op_s"])  # type: ignore[arg-type]
    print("\nratios (how many times faster shimtask is):")
    print(f"  entry_points(group=...) call      / warm names(): {md_call / warm:7.1f}x")
    print(f"  import + entry_points(group=...)  / warm names(): {md_total / warm:7.1f}x")
    print(f"  pluggy load_setuptools_entrypoints/ warm names(): {pluggy / warm:7.1f}x")
    print(f"  entry_points(group=...) call      / scan names(): {md_call / scan:7.1f}x")
    print(f"  importlib.metadata load one       / warm resolve(): {md_one / resolve:5.1f}x")
    print(f"\nwarm names(): {warm * 1000:.2f} ms first call in a process, "
          f"{warm_loop * 1000:.2f} ms in-process median (budget 5 ms)")


if __name__ == "__main__":
    sys.exit(main())
