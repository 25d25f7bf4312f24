"""Connector services side by side: `shimtask serve`, flytekit's `pyflyte serve connector`,
and a bare grpcio floor, in one run, sides alternating.

The same client (one thread and one channel per concurrent client, in this
process) drives each server over ``SyncAgentService/ExecuteTaskSync`` exactly as
propeller does (header, inputs, close, read one header), with two templates:

* ``inc``: int in, int out (``x + 1``): the framework's own cost;
* flytekit's serialized ``SQLite3Task`` (tests/data/flytekit/sqlite3_task.pb):
  a query and a parquet output.

Each server gets the same work at 1, 8 and 64 concurrent clients. Reported:
requests/s, p50/p99 latency, and the **server's CPU time per request** (utime +
stime from /proc/<pid>/stat around each level: on 2 cores the Python client
eats half the machine, so throughput alone hides the server's cost), and idle
RSS. The sides:

* ours: `shimtask serve --workers 8 --max-queue 64` from a fresh venv holding
  shimtask-core, shimtask-sqlite3 and a one-class ``inc`` plugin, installed as
  a user installs them (not the editable development install);
* flytekit: `pyflyte serve connector --modules fk_serve_connectors` in
  .venv-flytekit (SHIMTASK_FLYTEKIT_PYTHON), with sync connectors equivalent to
  our executors (bench/fk_serve_connectors.py);
* floor: bench/serve_floor.py, a bare grpcio handler that decodes the inputs and
  answers (bound query + parquet for the SQLite template), no framework.

Between rounds, a cold `pyflyte-execute` of each template (what a pod per task
costs, run as bench_cold runs it, through its helpers) is timed, and its wall time
is compared with our p50 and server CPU per request at one client.

    python bench/bench_serve.py [--rounds 3] [--seconds 2.5] [--json FILE]
    python bench/bench_serve.py --callgrind 400   # instructions per request, ours vs floor
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from flyteidl.admin import agent_pb2
from flyteidl.core import literals_pb2
from flyteidl.service import agent_pb2_grpc

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURES = REPO / "tests" / "data" / "flytekit"
sys.path.insert(0, str(REPO / "tests"))

from bench_cold import OURS_INC, flytekit_python, make_db, timed, write_trivial  # noqa: E402

from pluginenv import PluginVenv, build_wheel, repo_plugin_wheel  # noqa: E402
from shimtask_core import make_template, parse_template  # noqa: E402
from shimtask_core.literals import InterfaceCodec  # noqa: E402

LEVELS = (1, 8, 64)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Side:
    name: str
    proc: subprocess.Popen[bytes]
    address: str
    idle_rss: float = 0.0
    samples: dict[tuple[str, int], list[dict[str, float]]] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid


def wait_serving(address: str, tt: Any, inputs: Any, prefix: str, proc: subprocess.Popen[bytes],
                 timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server {proc.args} exited with {proc.returncode}")
        try:
            with grpc.insecure_channel(address) as channel:
                execute(agent_pb2_grpc.SyncAgentServiceStub(channel), tt, inputs, prefix)
            return
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def execute(stub: Any, tt: Any, inputs: literals_pb2.LiteralMap, prefix: str) -> None:
    header = agent_pb2.CreateRequestHeader(template=tt, output_prefix=prefix)
    responses = stub.ExecuteTaskSync(iter([agent_pb2.ExecuteTaskSyncRequest(header=header),
                                           agent_pb2.ExecuteTaskSyncRequest(inputs=inputs)]),
                                     timeout=60)
    response = next(responses)
    if response.header.resource.phase != 3:  # SUCCEEDED
        raise SystemExit(f"not SUCCEEDED: {response.header.resource}")


def run_level(side: Side, tt: Any, inputs: Any, prefix: str, clients: int,
              seconds: float) -> dict[str, float]:
    channels = [grpc.insecure_channel(side.address) for _ in range(clients)]
    stubs = [agent_pb2_grpc.SyncAgentServiceStub(c) for c in channels]
    for stub in stubs:  # connect and warm every channel
        execute(stub, tt, inputs, prefix)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    go = threading.Event()
    end = [0.0]

    def client(k: int) -> None:
        stub, mine = stubs[k], latencies[k]
        go.wait()
        while True:
            t0 = time.perf_counter()
            if t0 >= end[0]:
                return
            execute(stub, tt, inputs, prefix)
            mine.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    cpu0 = cpu_seconds(side.pid)
    started = time.perf_counter()
    end[0] = started + seconds
    go.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(side.pid) - cpu0
    for c in channels:
        c.close()
    flat = sorted(x for xs in latencies for x in xs)
    n = len(flat)
    return {"requests": n, "rps": n / elapsed, "p50_ms": flat[n // 2] * 1e3,
            "p99_ms": flat[min(n - 1, int(n * 0.99))] * 1e3, "cpu_us": cpu / n * 1e6}


def drain_to(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Copy a server's stderr pipe to a file, as a container runtime reads a pod's logs:
    the server writes to a pipe, never to a (slow) file system."""
    def copy() -> None:
        assert proc.stderr is not None
        with log.open("ab") as out:
            for line in proc.stderr:
                out.write(line)
                out.flush()

    threading.Thread(target=copy, daemon=True).start()


def start_ours(venv: PluginVenv, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = work / "ours.log"
    env = venv.env()
    proc = subprocess.Popen(
        [str(venv.root / "bin" / "shimtask"), "serve", "--host", "127.0.0.1", "--port", "0",
         "--workers", "8", "--max-queue", "64"],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    drain_to(proc, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in (log.read_text() if log.exists() else "").splitlines():
            if '"event":"serving"' in line:
                return proc, f"127.0.0.1:{json.loads(line)['port']}"
        if proc.poll() is not None:
            raise SystemExit(f"shimtask serve exited:\n{log.read_text()}")
        time.sleep(0.05)
    raise SystemExit("shimtask serve did not start")


def start_floor(python: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen([str(python), str(HERE / "serve_floor.py"), "--port", "0"],
                            cwd=work, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    port = json.loads(proc.stdout.readline())["port"]
    return proc, f"127.0.0.1:{port}"


def start_flytekit(fk: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIMTASK_")}
    env["PYTHONPATH"] = str(HERE)
    proc = subprocess.Popen(
        [str(fk.parent / "pyflyte"), "serve", "connector", "--port", str(port),
         "--prometheus_port", str(free_port()), "--modules", "fk_serve_connectors"],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    drain_to(proc, work / "flytekit.log")
    return proc, f"127.0.0.1:{port}"


def cold_commands(fk: Path, work: Path) -> dict[str, list[str]]:
    """A cold `pyflyte-execute` (a pod's floor) of each served template, as bench_cold
    runs it: the same template files, inputs and resolvers."""
    inc_template, inc_inputs = write_trivial(work)
    args = {"inc": (inc_inputs, inc_template, "fk_inc.Inc"),
            "sqlite": (FIXTURES / "inputs.pb", FIXTURES / "sqlite3_task.pb",
                       "flytekit.extras.sqlite3.task.SQLite3TaskExecutor")}
    return {template: [
        str(fk.parent / "pyflyte-execute"), "--inputs", str(inputs), "--output-prefix",
        str(work / f"cold-{template}"), "--raw-output-data-prefix", str(work / "cold-raw"),
        "--resolver",
        "flytekit.core.python_customized_container_task.default_task_template_resolver",
        "--", str(template_file), task] for template, (inputs, template_file, task) in args.items()}


def cold_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIMTASK_")}
    env["PYTHONPATH"] = str(work)  # flytekit imports fk_inc.Inc by its dotted path
    return env


def count_instructions(name: str, argv: list[str], port: int, work: Path,
                       env: dict[str, str], tt: Any, inputs: Any, requests: int,
                       clients: int = 1) -> float:
    """User-space instructions per request of one server (valgrind's callgrind, counting
    only while ``requests`` calls run, from ``clients`` concurrent clients each calling
    one after another): a measure the machine's noise does not move, which leaves out
    the kernel's share of a request. Valgrind runs one thread at a time, so with many
    clients this counts the work of waiting and waking, not the contention of 2 cores."""
    out = work / f"callgrind-{name}.out"
    for old in work.glob(f"{out.name}*"):
        old.unlink()
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                             f"--callgrind-out-file={out}", *argv], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    prefix = str(work / f"out-callgrind-{name}")
    try:
        wait_serving(address, tt, inputs, prefix, proc, timeout=300)
        channels = [grpc.insecure_channel(address) for _ in range(clients)]
        stubs = [agent_pb2_grpc.SyncAgentServiceStub(c) for c in channels]
        for k in range(max(100, clients)):  # warm: templates prepared, paths taken once
            execute(stubs[k % clients], tt, inputs, prefix)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True,
                       capture_output=True)
        counts = [requests // clients + (k < requests % clients) for k in range(clients)]

        def client(stub: Any, n: int) -> None:
            for _ in range(n):
                execute(stub, tt, inputs, prefix)

        threads = [threading.Thread(target=client, args=(stub, n))
                   for stub, n in zip(stubs, counts, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True,
                       capture_output=True)
        for c in channels:
            c.close()
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True,
                       capture_output=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    total = sum(int(line.split()[1]) for dump in work.glob(f"{out.name}*")
                for line in dump.read_text().splitlines() if line.startswith("totals:"))
    return total / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.5, help="per level and side")
    parser.add_argument("--cold-runs", type=int, default=1,
                        help="cold pyflyte-execute runs of each template per round, for the "
                             "per-task comparison (0: none)")
    parser.add_argument("--sides", default="ours,floor,flytekit",
                        help="comma-separated sides to run (default: all three)")
    parser.add_argument("--templates", default="inc,sqlite",
                        help="comma-separated templates to run (default: inc,sqlite)")
    parser.add_argument("--callgrind", type=int, default=0, metavar="N",
                        help="instead of timing, count the user-space instructions of N "
                             "requests, ours and the floor, under valgrind")
    parser.add_argument("--callgrind-clients", type=int, default=1, metavar="C",
                        help="concurrent clients sending the --callgrind requests (default 1)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shimtask-bench-serve-"))
    make_db(work)
    venv = PluginVenv(work / "venv")
    venv.install(
        repo_plugin_wheel(work / "wheels", "shimtask-sqlite3"),
        build_wheel(work / "inc", "shimtask-bench-inc", modules={"bench_inc.py": OURS_INC},
                    executors={"inc": "bench_inc:Inc"}))
    templates = {
        "inc": make_template("inc", "inc", inputs={"x": int}, outputs={"o0": int}),
        "sqlite": parse_template((FIXTURES / "sqlite3_task.pb").read_bytes()),
    }
    wanted = args.templates.split(",")
    unknown = sorted(set(wanted) - set(templates))
    if unknown:
        raise SystemExit(f"--templates: no template {', '.join(unknown)}; "
                         f"choose from {', '.join(templates)}")
    inputs = {
        "inc": InterfaceCodec(templates["inc"].interface).encode_inputs({"x": 41}),
        "sqlite": literals_pb2.LiteralMap.FromString((FIXTURES / "inputs.pb").read_bytes()),
    }
    templates = {k: v for k, v in templates.items() if k in wanted}
    if args.callgrind:
        return callgrind_main(venv, work, templates, inputs, args.callgrind,
                              args.callgrind_clients, args.json)
    fk = flytekit_python()
    starters = {"ours": lambda: start_ours(venv, work),
                "floor": lambda: start_floor(venv.python, work)}
    if fk is not None:
        starters["flytekit"] = lambda: start_flytekit(fk, work)
    starters = {k: v for k, v in starters.items() if k in args.sides.split(",")}
    cold_cmds = cold_commands(fk, work) if fk is not None and args.cold_runs > 0 else {}
    cold_cmds = {k: v for k, v in cold_cmds.items() if k in templates}
    cold: dict[str, list[float]] = {template: [] for template in cold_cmds}
    for cmd in cold_cmds.values():  # warm the page cache once
        timed(cmd, work, cold_env(work))
    sides: list[Side] = []
    try:
        for name, start in starters.items():
            proc, address = start()
            prefix = str(work / f"out-{name}")
            wait_serving(address, templates["inc"], inputs["inc"], prefix, proc)
            time.sleep(1.0)
            sides.append(Side(name, proc, address, idle_rss=rss_mib(proc.pid)))
        for round_ in range(args.rounds):
            for template in templates:
                tt = templates[template]
                for clients in LEVELS:
                    order = sides[round_ % len(sides):] + sides[:round_ % len(sides)]
                    for side in order:
                        prefix = str(work / f"out-{side.name}")
                        result = run_level(side, tt, inputs[template], prefix, clients,
                                           args.seconds)
                        side.samples.setdefault((template, clients), []).append(result)
                        print(f"round {round_ + 1} {template:6} {clients:3} clients "
                              f"{side.name:8} {result['rps']:8.0f} req/s  p50 "
                              f"{result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms  "
                              f"{result['cpu_us']:6.0f} us CPU/req", flush=True)
            for template, cmd in cold_cmds.items():  # between rounds: the same noise
                for _ in range(args.cold_runs):
                    cold[template].append(timed(cmd, work, cold_env(work))[0])
                print(f"round {round_ + 1} cold pyflyte-execute ({template}): "
                      f"{cold[template][-1] * 1e3:.0f} ms", flush=True)
        final_rss = {s.name: rss_mib(s.pid) for s in sides}
    finally:
        for side in sides:
            side.proc.send_signal(signal.SIGTERM)
        for side in sides:
            try:
                side.proc.wait(30)
            except subprocess.TimeoutExpired:
                side.proc.kill()
    report(sides, final_rss, cold, args.json)
    return 0


def callgrind_main(venv: PluginVenv, work: Path, templates: dict[str, Any],
                   inputs: dict[str, Any], requests: int, clients: int,
                   path: str | None) -> int:
    results: dict[str, dict[str, float]] = {}
    for template, tt in templates.items():
        for name in ("ours", "floor"):
            port = free_port()
            argv = ([str(venv.python), str(venv.root / "bin" / "shimtask"), "serve", "--host",
                     "127.0.0.1", "--port", str(port), "--workers", "8", "--max-queue", "64"]
                    if name == "ours" else
                    [str(venv.python), str(HERE / "serve_floor.py"), "--port", str(port)])
            per = count_instructions(name, argv, port, work, venv.env(), tt, inputs[template],
                                     requests, clients)
            results.setdefault(template, {})[name] = per
            print(f"{template:6} {name:5} {per:12,.0f} instructions per request "
                  f"({clients} clients)", flush=True)
        ratio = results[template]["ours"] / results[template]["floor"]
        results[template]["ratio"] = ratio
        print(f"{template:6} ours / floor: {ratio:.2f}x", flush=True)
    if path:
        Path(path).write_text(json.dumps({"callgrind_instructions_per_request": results,
                                          "clients": clients}, indent=2))
    return 0


def _agg(samples: list[dict[str, float]], key: str) -> tuple[float, float]:
    values = [s[key] for s in samples]
    best = max(values) if key == "rps" else min(values)
    return best, statistics.median(values)


def report(sides: list[Side], final_rss: dict[str, float], cold: dict[str, list[float]],
           path: str | None) -> None:
    by = {s.name: s for s in sides}
    results: dict[str, Any] = {"sides": {}}
    print("\nmedian of rounds (best in brackets)")
    print(f"{'template':8} {'clients':>7} {'side':8} {'req/s':>14} {'p50 ms':>13} "
          f"{'p99 ms':>13} {'CPU us/req':>15}")
    for (template, clients) in sides[0].samples:
        for side in sides:
            samples = side.samples[(template, clients)]
            row = {k: _agg(samples, k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us")}
            results["sides"].setdefault(side.name, {})[f"{template}/{clients}"] = {
                k: {"best": b, "median": m} for k, (b, m) in row.items()}
            print(f"{template:8} {clients:7} {side.name:8} "
                  + " ".join(f"{m:8.2f} [{b:7.2f}]" if k != "rps" else f"{m:7.0f} [{b:6.0f}]"
                             for k, (b, m) in row.items()))
    print("\nratios, ours / floor and ours / flytekit, median [best round against best "
          "round]; <1 is better for time and CPU")
    for (template, clients) in sides[0].samples:
        ours = results["sides"]["ours"][f"{template}/{clients}"]
        parts = []
        for other in ("floor", "flytekit"):
            if other not in by:
                continue
            them = results["sides"][other][f"{template}/{clients}"]
            ratio = {k: ours[k]["median"] / them[k]["median"] for k in ours}
            best = {k: ours[k]["best"] / them[k]["best"] for k in ours}
            results.setdefault("ratios", {}).setdefault(other, {})[f"{template}/{clients}"] = {
                k: {"median": ratio[k], "best": best[k]} for k in ours}
            parts.append(f"vs {other}: CPU {ratio['cpu_us']:.2f}x [{best['cpu_us']:.2f}x] "
                         f"p50 {ratio['p50_ms']:.2f}x [{best['p50_ms']:.2f}x] "
                         f"req/s {ratio['rps']:.2f}x")
        print(f"{template:8} {clients:3} clients  " + "  ".join(parts))
    print("\nRSS MiB: " + ", ".join(f"{s.name} idle {s.idle_rss:.1f} -> {final_rss[s.name]:.1f} "
                                   f"after the run" for s in sides))
    results["rss_mib"] = {s.name: {"idle": s.idle_rss, "after": final_rss[s.name]}
                          for s in sides}
    results["cold_pyflyte_execute_s"] = {}
    for template, times in cold.items():
        best, median = min(times), statistics.median(times)
        results["cold_pyflyte_execute_s"][template] = {"best": best, "median": median,
                                                       "runs": times}
        if "ours" not in by:
            continue
        ours = results["sides"]["ours"][f"{template}/1"]
        p50, cpu = ours["p50_ms"], ours["cpu_us"]
        print(f"cold pyflyte-execute ({template}): {median * 1e3:.0f} [{best * 1e3:.0f}] ms = "
              f"{median / (p50['median'] / 1e3):.0f}x [{best / (p50['best'] / 1e3):.0f}x] our "
              f"p50 at 1 client, {median / (cpu['median'] / 1e6):.0f}x "
              f"[{best / (cpu['best'] / 1e6):.0f}x] our server CPU per request "
              f"(median [best]; target >= 500x)")
    if path:
        Path(path).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
