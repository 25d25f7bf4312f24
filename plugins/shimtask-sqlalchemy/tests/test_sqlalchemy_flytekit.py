"""Templates serialized by real flytekit's SQLAlchemyTask, run by ``shimtask execute``.

The plugin is pip-installed from its wheel into a fresh venv (its real entry
point); tests/data/flytekit/ holds what flytekit 1.16.31 with
flytekitplugins-sqlalchemy wrote (make_fixtures.py). The templates name no port
and no password, as a deployed one might: libpq reads PGPORT, and the password
is the Flyte secret pg/password, mounted as ``_FSEC_PG_PASSWORD``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from flyteidl.core import errors_pb2, execution_pb2, literals_pb2
from google.protobuf import json_format

from conftest import FIXTURES, PEOPLE, READER_PASSWORD
from pgserver import PostgresServer, free_port
from pluginenv import PluginVenv, repo_plugin_wheel
from shimtask_core import parse_template

RESOLVER = "flytekit.core.python_customized_container_task.default_task_template_resolver"
FLYTEKIT_EXECUTOR = "flytekitplugins.sqlalchemy.task.SQLAlchemyTaskExecutor"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    root = tmp_path_factory.mktemp("sqlalchemy-venv")
    env = PluginVenv(root / "env")
    env.link_distributions("sqlalchemy", "psycopg", "psycopg-binary")
    env.install(repo_plugin_wheel(root / "wheels", "shimtask-sqlalchemy"))
    return env


def execute(venv: PluginVenv, postgres: PostgresServer, template: Path, inputs: str,
            out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``shimtask execute`` in the pyflyte-execute argument form flytekit's template carries."""
    environ = {"PGPORT": str(postgres.port), "_FSEC_PG_PASSWORD": READER_PASSWORD, **env}
    return venv.shimtask(
        "execute", "--inputs", str(FIXTURES / inputs), "--output-prefix", str(out / "out"),
        "--raw-output-data-prefix", str(out / "raw"), "--resolver", RESOLVER, "--",
        str(template), FLYTEKIT_EXECUTOR, env=environ)


def results(out: Path) -> list[dict[str, Any]]:
    outputs = literals_pb2.LiteralMap()
    outputs.ParseFromString((out / "out" / "outputs.pb").read_bytes())
    dataset = outputs.literals["results"].scalar.structured_dataset
    assert dataset.metadata.structured_dataset_type.format == "parquet"
    assert dataset.uri.startswith(str(out / "raw"))
    return list(pq.read_table(Path(dataset.uri) / "00000").to_pylist())


def error(out: Path) -> errors_pb2.ContainerError:
    document = errors_pb2.ErrorDocument()
    document.ParseFromString((out / "out" / "error.pb").read_bytes())
    return document.error


def test_the_committed_templates_are_flytekit_s(venv: PluginVenv) -> None:
    tt = parse_template((FIXTURES / "people.pb").read_bytes())
    custom = json_format.MessageToDict(tt.custom)
    assert tt.type == "sqlalchemy" and "executor_type" not in custom
    assert custom["secret_connect_args"]["password"]["group"] == "pg"
    assert tt.container.args[-1] == FLYTEKIT_EXECUTOR
    assert tt.interface.outputs.variables["results"].type.WhichOneof("type") == "schema"


@pytest.mark.parametrize("template", ["people.pb", "people.json", "people_typed.pb"])
def test_flytekit_s_template_runs_unchanged(venv: PluginVenv, postgres: PostgresServer,
                                            db: Any, tmp_path: Path, template: str) -> None:
    done = execute(venv, postgres, FIXTURES / template, "inputs_people.pb", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert results(tmp_path) == [{"id": 1, "name": "alice", "age": 34}]


def test_an_injection_through_flytekit_s_inputs_matches_nothing(
    venv: PluginVenv, postgres: PostgresServer, db: Any, tmp_path: Path
) -> None:
    done = execute(venv, postgres, FIXTURES / "people.pb", "inputs_injection.pb", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert results(tmp_path) == []  # flytekit's text substitution returns every row here
    assert db.execute("select count(*) from people").fetchone() == (len(PEOPLE),)


def test_a_list_input_in_an_in_list(venv: PluginVenv, postgres: PostgresServer, db: Any,
                                    tmp_path: Path) -> None:
    done = execute(venv, postgres, FIXTURES / "in_list.pb", "inputs_in_list.pb", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert results(tmp_path) == [{"id": 1, "name": "alice"}, {"id": 3, "name": "carol"}]


def test_a_statement_without_outputs_commits(venv: PluginVenv, postgres: PostgresServer,
                                             db: Any, tmp_path: Path) -> None:
    done = execute(venv, postgres, FIXTURES / "update.pb", "inputs_update.pb", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = literals_pb2.LiteralMap()
    outputs.ParseFromString((tmp_path / "out" / "outputs.pb").read_bytes())
    assert dict(outputs.literals) == {}
    assert db.execute("select age from people where name = 'bob'").fetchone() == (28,)


def test_every_type_through_the_container_contract(venv: PluginVenv, postgres: PostgresServer,
                                                   db: Any, tmp_path: Path) -> None:
    db.execute("create table typed (id bigint, amount numeric(8, 3), flag boolean, note text, "
               "at timestamptz, local timestamp)")
    db.execute("insert into typed values (9007199254740993, 12345.678, false, 'ünïcødé ✓', "
               "'2021-06-01 12:00:00+09', '2021-06-01 12:00:00'), "
               "(2, null, null, null, null, null)")
    done = execute(venv, postgres, FIXTURES / "types.pb", "inputs_empty.pb", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    nulls, row = results(tmp_path)  # ordered by id
    assert set(nulls.values()) == {2, None}
    assert row["id"] == 9007199254740993  # beyond a double's exact integers
    assert str(row["amount"]) == "12345.678" and row["flag"] is False
    assert row["note"] == "ünïcødé ✓"
    assert row["at"].isoformat() == "2021-06-01T03:00:00+00:00"
    assert row["local"].isoformat() == "2021-06-01T12:00:00"


def test_a_wrong_password_is_a_user_error_that_never_shows_it(
    venv: PluginVenv, postgres: PostgresServer, db: Any, tmp_path: Path
) -> None:
    wrong = "n0t-the-Passw0rd-7zq"
    done = execute(venv, postgres, FIXTURES / "people.pb", "inputs_people.pb", tmp_path,
                   _FSEC_PG_PASSWORD=wrong)
    assert done.returncode == 1
    failure = error(tmp_path)
    assert failure.origin == execution_pb2.ExecutionError.USER
    assert failure.kind == errors_pb2.ContainerError.NON_RECOVERABLE
    assert "password authentication failed" in failure.message
    raw = (tmp_path / "out" / "error.pb").read_bytes()
    for secret in (wrong, READER_PASSWORD):
        assert secret.encode() not in raw
        assert secret not in done.stdout + done.stderr


@pytest.mark.parametrize("mount", ["env", "file"])
@pytest.mark.parametrize("right", [False, True], ids=["wrong-password", "right-password"])
def test_secrets_never_reach_verbose_logs_stderr_or_error_pb(
    venv: PluginVenv, postgres: PostgresServer, db: Any, tmp_path: Path, mount: str,
    right: bool
) -> None:
    """The password from ``secret_connect_args``, mounted as Flyte mounts secrets (the
    ``_FSEC_PG_PASSWORD`` variable, or the file ``<secrets dir>/pg/password``), with every
    log on (``--verbose`` and ``SHIMTASK_LOG_LEVEL=DEBUG``): neither the wrong password
    nor the right one appears on stdout, stderr, error.pb or outputs.pb."""
    password = READER_PASSWORD if right else "Wr0ng-s3cret-Pa55/%:@"
    env = {"PGPORT": str(postgres.port), "SHIMTASK_LOG_LEVEL": "DEBUG"}
    if mount == "env":
        env["_FSEC_PG_PASSWORD"] = password
    else:
        (tmp_path / "secrets" / "pg").mkdir(parents=True)
        (tmp_path / "secrets" / "pg" / "password").write_text(password + "\n")
        env.update(_FSEC_PG_PASSWORD="", FLYTE_SECRETS_ENV_PREFIX="_NONE_",
                   FLYTE_SECRETS_DEFAULT_DIR=str(tmp_path / "secrets"))
    done = venv.shimtask(
        "execute", "--verbose", "--inputs", str(FIXTURES / "inputs_people.pb"),
        "--output-prefix", str(tmp_path / "out"), "--raw-output-data-prefix",
        str(tmp_path / "raw"), "--resolver", RESOLVER, "--", str(FIXTURES / "people.pb"),
        FLYTEKIT_EXECUTOR, env=env)
    assert "phase=" in done.stderr, done.stderr  # the logs were on
    if right:
        assert done.returncode == 0, done.stderr
        written = (tmp_path / "out" / "outputs.pb").read_bytes()
    else:
        assert done.returncode == 1, done.stderr
        assert "password authentication failed" in error(tmp_path).message
        written = (tmp_path / "out" / "error.pb").read_bytes()
    from urllib.parse import quote

    for secret in {password, READER_PASSWORD, quote(password, safe="")}:
        assert secret not in done.stdout + done.stderr, done.stderr
        assert secret.encode() not in written


def test_a_missing_secret_names_where_it_was_looked_for(
    venv: PluginVenv, postgres: PostgresServer, tmp_path: Path
) -> None:
    done = execute(venv, postgres, FIXTURES / "people.pb", "inputs_people.pb", tmp_path,
                   _FSEC_PG_PASSWORD="", FLYTE_SECRETS_ENV_PREFIX="_NONE_",
                   FLYTE_SECRETS_DEFAULT_DIR=str(tmp_path / "secrets"))
    assert done.returncode == 1
    failure = error(tmp_path)
    assert failure.origin == execution_pb2.ExecutionError.USER
    assert "_NONE_PG_PASSWORD" in failure.message
    assert str(tmp_path / "secrets" / "pg" / "password") in failure.message


def test_connection_refused_is_a_recoverable_system_error(
    venv: PluginVenv, postgres: PostgresServer, tmp_path: Path
) -> None:
    done = execute(venv, postgres, FIXTURES / "people.pb", "inputs_people.pb", tmp_path,
                   PGPORT=str(free_port()))
    assert done.returncode == 1
    failure = error(tmp_path)
    assert failure.code == "ServiceUnavailable"
    assert failure.origin == execution_pb2.ExecutionError.SYSTEM
    assert failure.kind == errors_pb2.ContainerError.RECOVERABLE
    assert "Connection refused" in failure.message
    assert READER_PASSWORD.encode() not in (tmp_path / "out" / "error.pb").read_bytes()


# --- against flytekit itself ----------------------------------------------------------------


@pytest.mark.flytekit
def test_flytekit_reads_our_output(venv: PluginVenv, postgres: PostgresServer, db: Any,
                                   tmp_path: Path, flytekit_python: str) -> None:
    done = execute(venv, postgres, FIXTURES / "people.pb", "inputs_people.pb", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    script = """
import json, sys
import pandas as pd
from flytekit import FlyteContextManager
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap
from flyteidl.core import literals_pb2

pb = literals_pb2.LiteralMap()
pb.ParseFromString(open(sys.argv[1], "rb").read())
literal = LiteralMap.from_flyte_idl(pb).literals["results"]
frame = TypeEngine.to_python_value(FlyteContextManager.current_context(), literal, pd.DataFrame)
print(json.dumps(frame.to_dict("records")))
"""
    read = subprocess.run([flytekit_python, "-c", script,
                           str(tmp_path / "out" / "outputs.pb")],
                          capture_output=True, text=True, timeout=300)
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout.strip().splitlines()[-1]) == [
        {"id": 1, "name": "alice", "age": 34}]


@pytest.mark.flytekit
def test_templates_serialized_now_by_flytekit_run_too(
    venv: PluginVenv, postgres: PostgresServer, db: Any, tmp_path: Path, flytekit_python: str
) -> None:
    live = tmp_path / "live"
    made = subprocess.run([flytekit_python, str(FIXTURES / "make_fixtures.py"), str(live)],
                          capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    for name in ("people.pb", "people_typed.pb", "in_list.pb", "update.pb", "types.pb"):
        committed = parse_template((FIXTURES / name).read_bytes())
        fresh = parse_template((live / name).read_bytes())
        for field in ("type", "custom", "interface"):
            assert getattr(fresh, field) == getattr(committed, field), (
                f"{name}: {field} differs from flytekit's current serialization: "
                f"regenerate with make_fixtures.py")
    done = execute(venv, postgres, live / "people.pb", "inputs_people.pb", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert results(tmp_path) == [{"id": 1, "name": "alice", "age": 34}]
