"""flytekit's side of bench_serve.py: sync connectors equivalent to shimtask's executors.

Loaded by ``pyflyte serve connector --modules fk_serve_connectors`` in
.venv-flytekit. Written as a flytekit connector author writes one: inputs through
``TypeEngine``, outputs as Python values in a ``Resource``.

* ``inc``: ``o0 = x + 1`` (what bench_serve's ``inc`` executor does);
* ``sqlite``: flytekit's own ``SQLite3TaskExecutor`` (the one ``pyflyte-execute``
  runs for a SQLite3Task), its DataFrame written by the TypeEngine as parquet.
"""

from __future__ import annotations

from typing import Any

from flyteidl.core.execution_pb2 import TaskExecution
from flytekit import FlyteContextManager
from flytekit.core.type_engine import TypeEngine
from flytekit.extend.backend.base_connector import ConnectorRegistry, Resource, SyncConnectorBase
from flytekit.extras.sqlite3.task import SQLite3TaskExecutor


def _inputs(task_template: Any, inputs: Any) -> dict[str, Any]:
    ctx = FlyteContextManager.current_context()
    return TypeEngine.literal_map_to_kwargs(
        ctx, inputs, literal_types=task_template.interface.inputs)


class IncConnector(SyncConnectorBase):
    name = "Bench inc connector"

    def __init__(self) -> None:
        super().__init__(task_type_name="inc")

    def do(self, task_template: Any, output_prefix: str, inputs: Any = None,
           **kwargs: Any) -> Resource:
        values = _inputs(task_template, inputs)
        return Resource(phase=TaskExecution.SUCCEEDED, outputs={"o0": values["x"] + 1})


class SQLiteConnector(SyncConnectorBase):
    name = "Bench sqlite connector"

    def __init__(self) -> None:
        super().__init__(task_type_name="sqlite")

    def do(self, task_template: Any, output_prefix: str, inputs: Any = None,
           **kwargs: Any) -> Resource:
        frame = SQLite3TaskExecutor().execute_from_model(task_template,
                                                         **_inputs(task_template, inputs))
        return Resource(phase=TaskExecution.SUCCEEDED, outputs={"results": frame})


ConnectorRegistry.register(IncConnector())
ConnectorRegistry.register(SQLiteConnector())
