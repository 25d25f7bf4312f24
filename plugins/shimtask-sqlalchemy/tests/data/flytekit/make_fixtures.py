"""Regenerate the flytekit-made SQLAlchemyTask fixtures in this directory.

Run with a Python that has the real flytekit (pinned 1.16.31) and
flytekitplugins-sqlalchemy (``python3 scripts/dev.py test`` sets up .venv-flytekit):

    .venv-flytekit/bin/python plugins/shimtask-sqlalchemy/tests/data/flytekit/make_fixtures.py [OUT]

OUT defaults to this directory. Each template is what ``pyflyte package`` would
serialize; every input map is what flytekit writes as ``inputs.pb``. The URI names
no port and no password: the tests give the port as libpq's PGPORT and the
password as the Flyte secret pg/password (``_FSEC_PG_PASSWORD``), as a pod would.

  people.pb / .json        rows by a quoted string and an integer; results: FlyteSchema
  people_typed.pb          the same, results: FlyteSchema[kwtypes(id=int, name=str, age=int)]
  in_list.pb               ids: List[int] in IN ({{ .inputs.ids }})
  update.pb                an UPDATE, no outputs (output_schema_type=None)
  types.pb                 every column of the types table, no inputs
  inputs_people.pb         name=alice, min_age=30
  inputs_injection.pb      name="x' OR '1'='1", min_age=0
  inputs_in_list.pb        ids=[1, 3]
  inputs_update.pb         name=bob
  inputs_empty.pb          no inputs
"""

import sys
from collections import OrderedDict
from pathlib import Path

from flytekit import FlyteContextManager, Secret, kwtypes
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.type_engine import TypeEngine
from flytekit.tools.translator import get_serializable
from flytekit.types.schema import FlyteSchema
from flytekitplugins.sqlalchemy import SQLAlchemyConfig, SQLAlchemyTask
from google.protobuf.json_format import MessageToJson

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
URI = "postgresql+psycopg://shimtask_reader@127.0.0.1/shimtask"
CONFIG = SQLAlchemyConfig(
    uri=URI,
    connect_args={"application_name": "shimtask-flytekit-fixture"},
    secret_connect_args={"password": Secret(group="pg", key="password")},
)
SETTINGS = SerializationSettings(
    image_config=ImageConfig.auto_default_image(),
    project="shimtask",
    domain="development",
    version="fixture-v1",
)
PEOPLE = ("select id, name, age from people "
          "where name = '{{ .inputs.name }}' and age >= {{ .inputs.min_age }} order by id")


def write_template(stem: str, task: SQLAlchemyTask) -> None:
    tt = get_serializable(OrderedDict(), SETTINGS, task).template.to_flyte_idl()
    (OUT / f"{stem}.pb").write_bytes(tt.SerializeToString(deterministic=True))
    (OUT / f"{stem}.json").write_text(MessageToJson(tt, sort_keys=True) + "\n")


def write_inputs(stem: str, values: dict, types: dict) -> None:
    ctx = FlyteContextManager.current_context()
    literals = TypeEngine.dict_to_literal_map(ctx, values, types)
    (OUT / f"{stem}.pb").write_bytes(literals.to_flyte_idl().SerializeToString(deterministic=True))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    people_inputs = kwtypes(name=str, min_age=int)
    write_template("people", SQLAlchemyTask(
        "people_by_name", query_template=PEOPLE, inputs=people_inputs, task_config=CONFIG))
    write_template("people_typed", SQLAlchemyTask(
        "people_by_name_typed", query_template=PEOPLE, inputs=people_inputs,
        output_schema_type=FlyteSchema[kwtypes(id=int, name=str, age=int)], task_config=CONFIG))
    write_template("in_list", SQLAlchemyTask(
        "people_by_ids", inputs=kwtypes(ids=list[int]), task_config=CONFIG,
        query_template="select id, name from people where id in ({{ .inputs.ids }}) order by id"))
    write_template("update", SQLAlchemyTask(
        "birthday", inputs=kwtypes(name=str), output_schema_type=None, task_config=CONFIG,
        query_template="update people set age = age + 1 where name = '{{ .inputs.name }}'"))
    write_template("types", SQLAlchemyTask(
        "all_types", query_template="select * from typed order by id", task_config=CONFIG))
    write_inputs("inputs_people", {"name": "alice", "min_age": 30}, people_inputs)
    write_inputs("inputs_injection", {"name": "x' OR '1'='1", "min_age": 0}, people_inputs)
    write_inputs("inputs_in_list", {"ids": [1, 3]}, {"ids": list[int]})
    write_inputs("inputs_update", {"name": "bob"}, {"name": str})
    write_inputs("inputs_empty", {}, {})
    print(f"wrote fixtures to {OUT}")


if __name__ == "__main__":
    main()
