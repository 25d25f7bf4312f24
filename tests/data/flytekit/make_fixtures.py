"""Regenerate the flytekit-made fixtures in this directory.

Run with a Python that has the real flytekit (pinned 1.16.31), from anywhere:

    /tmp/fk/bin/python tests/data/flytekit/make_fixtures.py [SQLITE_URI]

SQLITE_URI is written verbatim into the template's custom["uri"] (default: the
repo-relative path examples/data/example.db, so executors resolve it against the
working directory). The file need not exist: serialization never opens it.

Writes, next to this script:
  sqlite3_task.pb / .json        TaskTemplate of a SQLite3Task, results: FlyteSchema (untyped)
  sqlite3_task_typed.pb / .json  same, results: FlyteSchema[kwtypes(name=str, age=int)]
  inputs.pb                      LiteralMap for both templates' inputs
  sqlite3_task_spec.pb           the flyteidl.admin.TaskSpec of sqlite3_task, the file that
                                 `pyflyte package` writes (0_people_by_name_1.pb)
"""

import sys
from collections import OrderedDict
from pathlib import Path

from flytekit import FlyteContextManager, kwtypes
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.type_engine import TypeEngine
from flytekit.extras.sqlite3.task import SQLite3Config, SQLite3Task
from flytekit.tools.translator import get_serializable
from flytekit.types.schema import FlyteSchema
from google.protobuf.json_format import MessageToJson

HERE = Path(__file__).resolve().parent
URI = sys.argv[1] if len(sys.argv) > 1 else "examples/data/example.db"

# A string placeholder inside quotes (flytekit substitutes text, so users quote it)
# and a bare integer placeholder. flytekit collapses the newline into one space.
QUERY = """select name, age from people
           where name = '{{ .inputs.name }}' and age >= {{ .inputs.min_age }}"""
INPUT_TYPES = {"name": str, "min_age": int}
INPUT_VALUES = {"name": "alice", "min_age": 30}

# Fixed identity so regenerating gives the same bytes (for a given flytekit/python version).
SETTINGS = SerializationSettings(
    image_config=ImageConfig.auto_default_image(),
    project="shimtask",
    domain="development",
    version="fixture-v1",
)


def write_template(stem: str, output_schema_type=None) -> None:
    task = SQLite3Task(
        "people_by_name",
        query_template=QUERY,
        inputs=kwtypes(**INPUT_TYPES),
        output_schema_type=output_schema_type,
        task_config=SQLite3Config(uri=URI, compressed=False),
    )
    # flytekit's own serialization path (what `pyflyte package/register` uses).
    tt = get_serializable(OrderedDict(), SETTINGS, task).template.to_flyte_idl()
    # deterministic=True / sort_keys=True: protobuf map order is otherwise random per process.
    (HERE / f"{stem}.pb").write_bytes(tt.SerializeToString(deterministic=True))
    (HERE / f"{stem}.json").write_text(MessageToJson(tt, sort_keys=True) + "\n")


def write_task_spec(stem: str) -> None:
    task = SQLite3Task(
        "people_by_name",
        query_template=QUERY,
        inputs=kwtypes(**INPUT_TYPES),
        task_config=SQLite3Config(uri=URI, compressed=False),
    )
    spec = get_serializable(OrderedDict(), SETTINGS, task).to_flyte_idl()  # as pyflyte package
    (HERE / f"{stem}.pb").write_bytes(spec.SerializeToString(deterministic=True))


def main() -> None:
    write_template("sqlite3_task")
    write_task_spec("sqlite3_task_spec")
    write_template("sqlite3_task_typed", FlyteSchema[kwtypes(name=str, age=int)])
    ctx = FlyteContextManager.current_context()
    inputs = TypeEngine.dict_to_literal_map(ctx, INPUT_VALUES, INPUT_TYPES)
    (HERE / "inputs.pb").write_bytes(inputs.to_flyte_idl().SerializeToString(deterministic=True))
    print(f"wrote fixtures to {HERE} (uri={URI!r})")


if __name__ == "__main__":
    main()
