"""The long fuzz run of the container contract: ``tests/fuzzcases.py`` under atheris.

Each input atheris (libFuzzer) produces is the choice sequence of a hypothesis strategy
(``fuzz_one_input``), so the cases are the structure-aware ones of the suite's quick run
(templates, inputs mutated against the interface, hostile returned values, the SQL
plugins' ``custom`` fields) while atheris's coverage of shimtask_core steers them. Every
case runs ``runtime.execute`` in-process and is checked by ``fuzzcases`` (exactly one
result file, a code of the error table, nothing on stderr, success for valid cases).

A failing case does not stop the run: it is saved under ``--findings`` (template,
inputs, message), one per distinct first line, and counted. A JSON summary (cases,
seconds, result codes, findings) is rewritten every 1,000 cases and at the end.

    pip install -e '.[fuzz]'          # atheris
    python fuzz/fuzz_execute.py --cases 100000 --seconds 3600 --summary fuzz-summary.json

Arguments after ``--`` go to libFuzzer (``-seed=N``, ``-max_len=N``, a corpus directory).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="how many cases to run")
    parser.add_argument("--seconds", type=int, default=3600, help="stop after this long")
    parser.add_argument("--summary", type=Path, default=Path("fuzz-summary.json"))
    parser.add_argument("--findings", type=Path, default=Path("fuzz-findings"))
    parser.add_argument("--replay", type=Path, nargs="*", metavar="UNIT",
                        help="run these saved libFuzzer units (crash-*, slow-unit-*) once "
                        "each, printing the case and how long it took")
    parser.add_argument("--no-instrument", action="store_true",
                        help="no coverage guidance (faster cases, blind mutation)")
    args, libfuzzer = parser.parse_known_args()

    import atheris

    if args.no_instrument:
        import fuzzcases
        from shimtask_core import ExecutorRegistry, runtime
    else:
        with atheris.instrument_imports(include=["shimtask_core", "shimtask_sqlite3",
                                                 "shimtask_duckdb"]):
            # and what the codec loads lazily, imported here so that it is instrumented too
            import fuzzcases
            from shimtask_core import (  # noqa: F401
                ExecutorRegistry,
                limits,
                runtime,
                storage,
                template,
            )
            from shimtask_core.literals import (  # noqa: F401
                dataclass_fields,
                external,
                files,
                floatlist,
                unions,
            )
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    work = Path(tempfile.mkdtemp(prefix="shimtask-fuzz-"))
    db = fuzzcases.make_people_db(work / "people.db")
    mirrored = ExecutorRegistry(path=[])
    mirrored.register("echo", fuzzcases.Echo)
    mirrored.register("returns", fuzzcases.Returns)
    installed = ExecutorRegistry()  # the plugins pip installed: sqlite, duckdb, ...

    state: dict[str, Any] = {"cases": 0, "codes": collections.Counter(),
                             "kinds": collections.Counter(), "findings": {}}
    started = time.monotonic()
    args.findings.mkdir(parents=True, exist_ok=True)

    def write_summary(final: bool = False) -> None:
        summary = {
            "cases": state["cases"], "seconds": round(time.monotonic() - started, 1),
            "instrumented": not args.no_instrument, "final": final,
            "kinds": dict(state["kinds"]), "codes": dict(state["codes"].most_common()),
            "findings": sorted(state["findings"]),
        }
        args.summary.write_text(json.dumps(summary, indent=2) + "\n")

    def record_finding(kind: str, case: Any, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(exc))
        first = f"{kind}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"
        if first in state["findings"]:
            state["findings"][first] += 1
            return
        state["findings"][first] = 1
        folder = args.findings / f"{len(state['findings']):03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "message.txt").write_text(f"{first}\n\n{text}\n{case!r}\n"[:200_000])
        if hasattr(case, "template"):
            (folder / "task.pb").write_bytes(case.template)
        if hasattr(case, "inputs"):
            (folder / "inputs.pb").write_bytes(case.inputs)
        print(f"fuzz: finding {len(state['findings'])}: {first}", file=sys.stderr, flush=True)

    everything = st.one_of(
        fuzzcases.cases().map(lambda c: ("inputs", c)),
        fuzzcases.cases().map(lambda c: ("inputs", c)),
        fuzzcases.output_cases().map(lambda c: ("outputs", c)),
        fuzzcases.plugin_cases(str(db)).map(lambda c: ("plugins", c)),
    )

    @settings(database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(everything)
    def one(drawn: tuple[str, Any]) -> None:
        kind, case = drawn
        if state.get("replay"):
            print(f"{kind}: {case!r}"[:3000])
        state["cases"] += 1
        state["kinds"][kind] += 1
        folder = work / "case"
        shutil.rmtree(folder, ignore_errors=True)
        try:
            if kind == "outputs":
                error = fuzzcases.run_output_case(case, folder, mirrored)
            else:
                error = fuzzcases.run_in_process(
                    case, folder, installed if kind == "plugins" else mirrored,
                    run=runtime.execute)
            state["codes"][error.code if error is not None else "OK"] += 1
        except AssertionError as exc:
            state["codes"]["(property failed)"] += 1
            record_finding(kind, case, exc)
        except Exception as exc:  # the harness or runtime.execute raised: also a finding
            state["codes"]["(raised)"] += 1
            record_finding(kind, case, exc)
        if state["cases"] % 1000 == 0:
            write_summary()
            print(f"fuzz: {state['cases']} cases, {time.monotonic() - started:.0f} s, "
                  f"{len(state['findings'])} finding(s)", file=sys.stderr, flush=True)
        if state["cases"] >= args.cases or time.monotonic() - started > args.seconds:
            write_summary(final=True)
            os._exit(1 if state["findings"] else 0)

    fuzz_one = one.hypothesis.fuzz_one_input
    if args.replay:
        state["replay"] = True
        for unit in args.replay:
            began = time.monotonic()
            fuzz_one(unit.read_bytes())
            print(f"{unit}: {time.monotonic() - began:.2f} s, codes {dict(state['codes'])}")
        return 1 if state["findings"] else 0

    def test_one_input(data: bytes) -> None:
        try:
            fuzz_one(data)
        except Exception as exc:  # drawing the case failed: the harness's bug, not a crash
            state["codes"]["(case not drawn)"] += 1
            record_finding("harness", None, exc)

    flags = [a for a in libfuzzer if a != "--"]
    # hypothesis reads a choice sequence: cases need kilobytes of it from the start, not
    # libFuzzer's default of growing inputs slowly from a few bytes
    for flag in ("-max_len=32768", "-len_control=0"):
        if not any(a.startswith(flag.split("=")[0] + "=") for a in flags):
            flags.append(flag)
    atheris.Setup([sys.argv[0], *flags], test_one_input)
    atheris.Fuzz()
    return 0  # not reached: atheris ends the process


if __name__ == "__main__":
    sys.exit(main())
