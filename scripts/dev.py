#!/usr/bin/env python3
"""Set up and run shimtask from a fresh clone, with nothing but Python 3.10+ and pip.

    python3 scripts/dev.py demo    # set up .venv, build the example data, run the demo
    python3 scripts/dev.py test    # set up everything the tests need, then lint, type, docs,
                                   # tests (and tox on Python 3.10 and 3.13 where installed)
    python3 scripts/dev.py bench   # benchmarks side by side with flytekit

Set-up is idempotent: a second run reuses the virtual environments.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
FLYTEKIT_VENV = REPO / ".venv-flytekit"
FLYTEKIT_PIN = "flytekit==1.16.31"
# flytekit's DuckDB plugin of the same release (it pins duckdb<=1.0.0 itself), for the
# duckdb interop tests and bench/bench_duckdb.py; its SQLAlchemy plugin, whose
# SQLAlchemyTask serializes the sqlalchemy plugin's fixtures, with a PostgreSQL driver for
# bench/bench_sqlalchemy.py (flytekitplugins-sqlalchemy brings none).
FLYTEKIT_PLUGINS = ("flytekitplugins-duckdb==1.16.31", "flytekitplugins-sqlalchemy==1.16.31",
                    "psycopg[binary]")
# flytekit[connector] without its grpcio-health-checking<=1.68 pin (which would downgrade
# protobuf below flyteidl's): what `pyflyte serve connector` imports, for bench_serve.
FLYTEKIT_CONNECTOR = ("prometheus-client", "grpcio-health-checking", "httpx")
EXTRA_PYTHONS = ("3.10", "3.13")  # besides the one running this script
# On the other Pythons the suite runs without the tests whose subject does not change with
# the interpreter: servers (gRPC, PostgreSQL, S3), flytekit's own pinned environment, the
# 1,000-plugin site, the image's install steps (the image pins its own Python). They run
# once, on this one; the rest (codec, text input, CLI, registry, plugins, kit, exits and
# faults) runs on every supported version.
SAME_ON_EVERY_PYTHON = (
    "tests/test_serve.py", "tests/test_serve_process.py", "tests/test_serve_deploy.py",
    "tests/test_serve_resources.py",
    "tests/test_s3.py", "tests/flytekit_interop", "tests/test_registry_scale.py",
    "tests/test_image.py", "plugins/shimtask-sqlalchemy/tests",
)
PLUGINS = sorted(p for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").exists())


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None, check: bool = True,
        quiet: bool = False) -> int:
    """Run a command from the repository root; ``quiet`` shows its output only if it fails."""
    printable = " ".join(str(a) for a in args)
    say(printable if len(printable) < 160 else printable[:157] + "...")
    result = subprocess.run([str(a) for a in args], cwd=REPO, env=env,
                            capture_output=quiet, text=True)
    if quiet and result.returncode != 0:
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
    if check and result.returncode != 0:
        raise SystemExit(f"failed (exit {result.returncode}): {printable}")
    return result.returncode


def bin_of(env_dir: Path, name: str) -> Path:
    return env_dir / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_venv(env_dir: Path) -> Path:
    python = bin_of(env_dir, "python")
    if not python.exists():
        say(f"creating {env_dir.name}")
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        run(python, "-m", "pip", "install", "-q", "--upgrade", "pip", quiet=True)
    return python


def setup_core(extras: str) -> Path:
    """The main environment: shimtask-core (editable) and every plugin in plugins/."""
    python = ensure_venv(VENV)
    editable = ["-e", f".[{extras}]"] if extras else ["-e", "."]
    for plugin in PLUGINS:
        editable += ["-e", str(plugin.relative_to(REPO))]
    run(python, "-m", "pip", "install", "-q", *editable, quiet=True)
    return python


def setup_flytekit() -> Path:
    """flytekit in its own environment, for the interop tests and the benchmarks."""
    python = ensure_venv(FLYTEKIT_VENV)
    check = subprocess.run([str(python), "-c",
                            "import flytekit, pandas, pyarrow, flytekitplugins.duckdb, "
                            "flytekitplugins.sqlalchemy, psycopg, "
                            "prometheus_client, grpc_health"],
                           capture_output=True)
    if check.returncode != 0:
        run(python, "-m", "pip", "install", "-q", FLYTEKIT_PIN, *FLYTEKIT_PLUGINS,
            *FLYTEKIT_CONNECTOR, "pandas", "pyarrow", quiet=True)
    return python


def demo(_: argparse.Namespace) -> int:
    python = setup_core("")
    run(python, "examples/make_example_db.py")
    run(python, "examples/make_example_parquet.py")
    shimtask = bin_of(VENV, "shimtask")
    run(shimtask, "plugins", "list")
    status = run(shimtask, "run", "examples/sqlite_query.json", "--inputs-json",
                 "examples/inputs.json", check=False)
    status |= run(shimtask, "run", "examples/duckdb_query.json", "--inputs-json",
                  "examples/duckdb_inputs.json", check=False)
    if status == 0:
        say(f"done: `. {VENV.relative_to(REPO)}/bin/activate` puts shimtask on your PATH")
    return status


def test(args: argparse.Namespace) -> int:
    python = setup_core("dev")
    env = dict(os.environ)
    if not args.no_flytekit:
        env["SHIMTASK_FLYTEKIT_PYTHON"] = str(setup_flytekit())
    tools = bin_of(VENV, "")
    failures = []
    steps = [
        ("lint", [tools / "ruff", "check", "shimtask_core", "tests", "plugins", "bench",
                  "scripts", "examples", "docs/hooks", "fuzz"]),
        ("types", [tools / "mypy"]),
        ("docs", [tools / "mkdocs", "build", "--strict", "--site-dir",
                  str(REPO / "build" / "site")]),
    ]
    for name, command in steps:
        if run(*command, env=env, check=False) != 0:
            failures.append(name)
    status = run(python, "-m", "pytest", *args.pytest_args, env=env, check=False)
    if status == 5:
        say("pytest collected no tests: that is a failure of the test set-up")
    if status != 0:
        failures.append(f"pytest (exit {status})")
    if not args.one_python:
        failures += other_pythons(env)
    if failures:
        say(f"FAILED: {', '.join(failures)}")
        return 1
    say("all checks passed")
    return 0


def find_python(version: str) -> Path | None:
    """A working interpreter for ``version``: installed by pyenv, or on PATH.

    pyenv's shims are on PATH for every version but run only the selected ones,
    so a candidate counts only if it actually starts.
    """
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))[::-1]
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        probe = subprocess.run([str(candidate), "-c", "import venv"], capture_output=True)
        if probe.returncode == 0:
            return candidate
    return None


def other_pythons(env: dict[str, str]) -> list[str]:
    """The suite on the oldest and newest supported Pythons too, through tox, where present."""
    found = {v: find_python(v) for v in EXTRA_PYTHONS}
    present = {v: p for v, p in found.items() if p is not None}
    for version in sorted(set(found) - set(present)):
        say(f"python{version} not found: its tox environment is skipped")
    if not present:
        return []
    tox_env = dict(env)
    tox_env["PATH"] = os.pathsep.join([*(str(p.parent) for p in present.values()),
                                       tox_env.get("PATH", "")])
    envs = ",".join(f"py{v.replace('.', '')}" for v in present)
    ignores = [f"--ignore={path}" for path in SAME_ON_EVERY_PYTHON if (REPO / path).exists()]
    # Side by side: each run waits on subprocesses and servers much of the time, so two
    # fit on two cores; tox prints a failed environment's whole output when it ends.
    status = run(bin_of(VENV, "tox"), "--parallel", str(len(present)), "--parallel-no-spinner",
                 "-e", envs, "--", "-q", *ignores, env=tox_env, check=False)
    return [f"tox {envs} (exit {status})"] if status else []


def bench(_: argparse.Namespace) -> int:
    python = setup_core("dev")
    env = dict(os.environ, SHIMTASK_FLYTEKIT_PYTHON=str(setup_flytekit()))
    status = 0
    for script in sorted((REPO / "bench").glob("bench_*.py")):
        status |= run(python, script, env=env, check=False)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the SQLite and DuckDB demo")
    tests = commands.add_parser("test", help="lint, type-check, build docs, run all tests")
    tests.add_argument("--no-flytekit", action="store_true",
                       help="skip creating the flytekit environment (interop tests skip)")
    tests.add_argument("--one-python", action="store_true",
                       help=f"skip the tox runs on Python {' and '.join(EXTRA_PYTHONS)}")
    tests.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    commands.add_parser("bench", help="benchmarks against flytekit")
    args = parser.parse_args()
    if sys.version_info < (3, 10):  # noqa: UP036 - this script may be run by any python3
        parser.error("shimtask needs Python 3.10 or newer")
    return {"demo": demo, "test": test, "bench": bench}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
