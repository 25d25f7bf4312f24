"""The literal codec and dispatch_execute, side by side with flytekit, as ratios.

    python bench/bench_codec.py [--quick] [--json bench/results/codec.json]

One run measures, on the same bytes:

* ``dispatch_execute`` of a template with two int inputs and one int output
  and a trivial executor: ours vs flytekit's ``ExecutableTemplateShimTask``
  (goal: >= 15x less), and vs a minimal protobuf + pluggy path (the floor);
* a list of 1,000 and of 100,000 floats as an input (inputs.pb bytes -> Python
  list) and as an output (Python list -> outputs.pb bytes): ours vs flytekit's
  TypeEngine (goal: >= 10x), and the 100,000 round trip vs the raw protobuf
  (upb) floor: build the literals with the protobuf API, serialize, parse and
  read the floats back (goal: within 1.5x).

flytekit runs in its own interpreter (SHIMTASK_FLYTEKIT_PYTHON, else
``.venv-flytekit/bin/python``): this script runs itself there with
``--half flytekit`` and reads its timings back. Times are the best of several
repeats (the least disturbed), per call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SIZES = (1_000, 100_000)


def best(fn: Callable[[], Any], *, budget: float = 0.4, repeats: int = 7) -> float:
    """Seconds per call: the best of ``repeats`` timed loops of about ``budget``/repeats."""
    fn()  # warm up (first-call caches, lazy imports)
    started = time.perf_counter()
    fn()
    once = max(time.perf_counter() - started, 1e-7)
    number = max(1, int(budget / repeats / once))
    results = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        results.append((time.perf_counter() - started) / number)
    return min(results)


# --- the shared inputs --------------------------------------------------------------------


def write_data(folder: Path) -> None:
    """The template and the inputs.pb both halves read (made with our codec, plain protobuf)."""
    from shimtask_core import make_template
    from shimtask_core.literals import InterfaceCodec

    tt = make_template("add", "add", inputs={"a": int, "b": int}, outputs={"o0": int})
    (folder / "add.pb").write_bytes(tt.SerializeToString())
    codec = InterfaceCodec(tt.interface)
    (folder / "add-inputs.pb").write_bytes(codec.encode_inputs({"a": 1, "b": 2})
                                           .SerializeToString())
    rng = random.Random(42)
    for n in SIZES:
        values = [rng.uniform(-1e6, 1e6) for _ in range(n)]
        lists = make_template("floats", "floats", inputs={"xs": list[float]},
                              outputs={"o0": list[float]})
        data = InterfaceCodec(lists.interface).encode_inputs({"xs": values}).SerializeToString()
        (folder / f"floats-{n}.pb").write_bytes(data)


def _read_floats(folder: Path, n: int) -> tuple[bytes, list[float]]:
    from flyteidl.core import literals_pb2

    data = (folder / f"floats-{n}.pb").read_bytes()
    lm = literals_pb2.LiteralMap()
    lm.ParseFromString(data)
    return data, [lit.scalar.primitive.float_value for lit in lm.literals["xs"].collection.literals]


# --- our half -------------------------------------------------------------------------------


def ours(folder: Path, budget: float) -> dict[str, float]:
    from flyteidl.core import literals_pb2

    from shimtask_core import ExecutableTemplateShimTask, ExecutorRegistry, ShimTaskExecutor
    from shimtask_core.literals import InterfaceCodec
    from shimtask_core.template import make_template, parse_template

    class Add(ShimTaskExecutor[Any]):
        def execute_from_model(self, tt: Any, **kwargs: Any) -> Any:
            return kwargs["a"] + kwargs["b"]

    out: dict[str, float] = {}
    tt = parse_template((folder / "add.pb").read_bytes())
    task = ExecutableTemplateShimTask(tt, Add, registry=ExecutorRegistry(path=[]))
    inputs = literals_pb2.LiteralMap()
    inputs.ParseFromString((folder / "add-inputs.pb").read_bytes())
    assert task.dispatch_execute(None, inputs).literals["o0"].scalar.primitive.integer == 3
    out["dispatch"] = best(lambda: task.dispatch_execute(None, inputs), budget=budget)

    lists = make_template("floats", "floats", inputs={"xs": list[float]},
                          outputs={"o0": list[float]})
    codec = InterfaceCodec(lists.interface)
    for n in SIZES:
        data, values = _read_floats(folder, n)

        def decode(data: bytes = data) -> list[float]:
            lm = literals_pb2.LiteralMap()
            lm.ParseFromString(data)
            result: list[float] = codec.decode_inputs(lm)["xs"]
            return result

        def encode(values: list[float] = values) -> bytes:
            return bytes(codec.encode_outputs(values).SerializeToString())

        assert decode() == values
        assert len(encode()) == len(data)  # the same canonical bytes, o0 for xs
        out[f"input-{n}"] = best(decode, budget=budget)
        out[f"output-{n}"] = best(encode, budget=budget)
    return out


def floors(folder: Path, budget: float) -> dict[str, float]:
    """The same work done with the bare protobuf (upb) API and pluggy, nothing else."""
    import pluggy
    from flyteidl.core import literals_pb2

    out: dict[str, float] = {}
    hookspec = pluggy.HookspecMarker("floor")
    hookimpl = pluggy.HookimplMarker("floor")

    class Spec:
        @hookspec(firstresult=True)
        def run(self, inputs: dict[str, Any]) -> Any: ...

    class Impl:
        @hookimpl
        def run(self, inputs: dict[str, Any]) -> Any:
            return inputs["a"] + inputs["b"]

    pm = pluggy.PluginManager("floor")
    pm.add_hookspecs(Spec)
    pm.register(Impl())
    inputs = literals_pb2.LiteralMap()
    inputs.ParseFromString((folder / "add-inputs.pb").read_bytes())

    def minimal() -> Any:
        lits = inputs.literals
        kwargs = {"a": lits["a"].scalar.primitive.integer, "b": lits["b"].scalar.primitive.integer}
        result = pm.hook.run(inputs=kwargs)
        out_map = literals_pb2.LiteralMap()
        out_map.literals["o0"].scalar.primitive.integer = result
        return out_map

    out["dispatch"] = best(minimal, budget=budget)
    for n in SIZES:
        data, values = _read_floats(folder, n)

        def build(values: list[float] = values) -> bytes:
            lm = literals_pb2.LiteralMap()
            add = lm.literals["o0"].collection.literals.add
            for v in values:
                add().scalar.primitive.float_value = v
            return bytes(lm.SerializeToString())

        def parse(data: bytes = data) -> list[float]:
            lm = literals_pb2.LiteralMap()
            lm.ParseFromString(data)
            return [lit.scalar.primitive.float_value
                    for lit in lm.literals["xs"].collection.literals]

        def parse_only(data: bytes = data) -> Any:
            lm = literals_pb2.LiteralMap()
            lm.ParseFromString(data)
            return lm

        assert parse() == values
        out[f"output-{n}"] = best(build, budget=budget)
        out[f"input-{n}"] = best(parse, budget=budget)
        out[f"parse-only-{n}"] = best(parse_only, budget=budget)
    return out


# --- flytekit's half (runs in flytekit's interpreter; never imports shimtask_core) --------


def flytekit_half(folder: Path, budget: float) -> dict[str, Any]:
    import logging
    import typing

    logging.disable(logging.WARNING)
    from flyteidl.core import literals_pb2, tasks_pb2
    from flytekit import FlyteContextManager
    from flytekit.core.context_manager import ExecutionState
    from flytekit.core.shim_task import ExecutableTemplateShimTask, ShimTaskExecutor
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models import literals as lm_model
    from flytekit.models.task import TaskTemplate

    class Add(ShimTaskExecutor):  # type: ignore[misc]
        def execute_from_model(self, tt: Any, **kwargs: Any) -> Any:
            return kwargs["a"] + kwargs["b"]

    out: dict[str, Any] = {"version": _flytekit_version()}
    pb = tasks_pb2.TaskTemplate()
    pb.ParseFromString((folder / "add.pb").read_bytes())
    task = ExecutableTemplateShimTask(TaskTemplate.from_flyte_idl(pb), Add)
    ctx = FlyteContextManager.current_context()
    state = ctx.new_execution_state().with_params(mode=ExecutionState.Mode.TASK_EXECUTION)
    with FlyteContextManager.with_context(ctx.with_execution_state(state)) as ctx:
        raw = literals_pb2.LiteralMap()
        raw.ParseFromString((folder / "add-inputs.pb").read_bytes())
        inputs = lm_model.LiteralMap.from_flyte_idl(raw)
        result = task.dispatch_execute(ctx, inputs)
        assert result.literals["o0"].scalar.primitive.integer == 3
        out["dispatch"] = best(lambda: task.dispatch_execute(ctx, inputs), budget=budget)
        hint = {"xs": typing.List[float]}  # noqa: UP006 - flytekit's spelling
        for n in SIZES:
            data = (folder / f"floats-{n}.pb").read_bytes()

            def decode(data: bytes = data) -> list[float]:
                raw = literals_pb2.LiteralMap()
                raw.ParseFromString(data)
                kwargs = TypeEngine.literal_map_to_kwargs(
                    ctx, lm_model.LiteralMap.from_flyte_idl(raw), hint)
                return typing.cast(list[float], kwargs["xs"])

            values = decode()

            def encode(values: list[float] = values) -> bytes:
                lm = TypeEngine.dict_to_literal_map(ctx, {"o0": values},
                                                    {"o0": typing.List[float]})  # noqa: UP006
                return bytes(lm.to_flyte_idl().SerializeToString())

            assert len(encode()) == len(data)
            small = budget if n < 10_000 else budget * 3
            out[f"input-{n}"] = best(decode, budget=small, repeats=3 if n > 10_000 else 7)
            out[f"output-{n}"] = best(encode, budget=small, repeats=3 if n > 10_000 else 7)
    return out


def _flytekit_version() -> str:
    from importlib.metadata import version

    return version("flytekit")


def flytekit_python() -> Path | None:
    candidate = Path(os.environ.get("SHIMTASK_FLYTEKIT_PYTHON",
                                    REPO / ".venv-flytekit" / "bin" / "python"))
    return candidate if candidate.exists() else None


# --- the report -----------------------------------------------------------------------------


def _us(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:9.2f} ms"
    return f"{seconds * 1e6:9.2f} us"


def report(mine: dict[str, float], floor: dict[str, float], theirs: dict[str, Any] | None
           ) -> dict[str, Any]:
    rows: list[tuple[str, float, float | None, float]] = [
        ("dispatch_execute, trivial executor", mine["dispatch"],
         theirs["dispatch"] if theirs else None, floor["dispatch"])]
    for n in SIZES:
        for way in ("input", "output"):
            rows.append((f"{n:,} floats, {way}", mine[f"{way}-{n}"],
                         theirs[f"{way}-{n}"] if theirs else None, floor[f"{way}-{n}"]))
    header = f"{'case':38} {'shimtask':>12} {'flytekit':>12} {'x faster':>9} " \
             f"{'floor':>12} {'vs floor':>9}"
    print(header)
    print("-" * len(header))
    results = []
    for name, ours_s, fk_s, floor_s in rows:
        speedup = fk_s / ours_s if fk_s else None
        print(f"{name:38} {_us(ours_s)} {_us(fk_s) if fk_s else '         n/a':>12} "
              f"{f'{speedup:8.1f}x' if speedup else '      n/a'} {_us(floor_s)} "
              f"{ours_s / floor_s:8.2f}x")
        results.append({"case": name, "shimtask_s": ours_s, "flytekit_s": fk_s,
                        "speedup": speedup, "floor_s": floor_s,
                        "vs_floor": ours_s / floor_s})
    n = SIZES[-1]
    trip = mine[f"input-{n}"] + mine[f"output-{n}"]
    trip_floor = floor[f"input-{n}"] + floor[f"output-{n}"]
    print()
    print(f"{n:,} floats round trip (output + input): shimtask {_us(trip).strip()}, "
          f"upb floor {_us(trip_floor).strip()} -> {trip / trip_floor:.2f}x the floor "
          f"(goal <= 1.5x)")
    if theirs:
        print(f"dispatch_execute: {theirs['dispatch'] / mine['dispatch']:.1f}x less than "
              f"flytekit {theirs['version']} (goal >= 15x); the floor (protobuf + pluggy) is "
              f"{_us(floor['dispatch']).strip()}")
    else:
        print("flytekit columns: n/a (no flytekit interpreter: set SHIMTASK_FLYTEKIT_PYTHON "
              "or create .venv-flytekit)")
    return {"python": platform.python_version(), "machine": platform.machine(),
            "flytekit": theirs.get("version") if theirs else None, "rows": results,
            "round_trip_100k": {"shimtask_s": trip, "floor_s": trip_floor,
                                "vs_floor": trip / trip_floor}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--half", choices=["flytekit"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="shorter timing loops")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    budget = 0.15 if args.quick else 0.5
    if args.half == "flytekit":
        print(json.dumps(flytekit_half(args.data, budget)))
        return 0
    with tempfile.TemporaryDirectory(prefix="shimtask-bench-") as tmp:
        folder = Path(tmp)
        write_data(folder)
        theirs = None
        python = flytekit_python()
        if python is not None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
            done = subprocess.run(
                [str(python), __file__, "--half", "flytekit", "--data", str(folder),
                 *(["--quick"] if args.quick else [])],
                capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            theirs = json.loads(done.stdout.strip().splitlines()[-1])
        mine = ours(folder, budget)
        floor = floors(folder, budget)
    summary = report(mine, floor, theirs)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
