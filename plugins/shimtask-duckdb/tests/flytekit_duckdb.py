"""Run by the pinned flytekit (with flytekitplugins-duckdb), never imported by our tests.

    python flytekit_duckdb.py make WORKDIR SALES_PARQUET   # templates, inputs.pb, results
    python flytekit_duckdb.py read OUTPUTS_PB              # our outputs.pb as flytekit reads it

``make`` writes, for each DuckDBQuery below, ``<name>.pb`` (its TaskTemplate, as
flytekit serializes it for registration), ``<name>.json`` (its query and the rows
flytekit itself computes running the task locally), and one ``inputs.pb`` (the sales
dataset as flytekit passes it). ``read`` prints the rows of the ``result`` dataset.
"""

import json
import sys
from collections import OrderedDict
from pathlib import Path

TASKS = '''
from flytekit import StructuredDataset, kwtypes
from flytekitplugins.duckdb import DuckDBQuery

AGG_QUERY = ("select category, count(*) as n, sum(quantity) as q from sales "
             "where value > 20 group by category order by category")
MULTI_QUERY = ["create table big as select * from sales where value > 50",
               "select category, count(*) as n from big group by category order by category"]

agg = DuckDBQuery(name="agg", query=AGG_QUERY, inputs=kwtypes(sales=StructuredDataset))
multi = DuckDBQuery(name="multi", query=MULTI_QUERY, inputs=kwtypes(sales=StructuredDataset))
'''


def _rows(df) -> list:
    return json.loads(df.to_json(orient="records"))


def make(workdir: Path, sales: str) -> None:
    import pandas as pd
    from flytekit import FlyteContextManager, StructuredDataset
    from flytekit.configuration import ImageConfig, SerializationSettings
    from flytekit.core.type_engine import TypeEngine
    from flytekit.tools.translator import get_serializable

    (workdir / "fk_duckdb_tasks.py").write_text(TASKS)
    sys.path.insert(0, str(workdir))
    import fk_duckdb_tasks as tasks

    settings = SerializationSettings(image_config=ImageConfig.auto_default_image(),
                                     project="shimtask", domain="development", version="v1")
    frame = pd.read_parquet(sales)
    for name, task, query in (("agg", tasks.agg, tasks.AGG_QUERY),
                              ("multi", tasks.multi, tasks.MULTI_QUERY)):
        tt = get_serializable(OrderedDict(), settings, task).template.to_flyte_idl()
        (workdir / f"{name}.pb").write_bytes(tt.SerializeToString())
        result = task(sales=StructuredDataset(dataframe=frame)).open(pd.DataFrame).all()
        (workdir / f"{name}.json").write_text(json.dumps({"query": query,
                                                          "rows": _rows(result)}))
    ctx = FlyteContextManager.current_context()
    inputs = TypeEngine.dict_to_literal_map(
        ctx, {"sales": StructuredDataset(dataframe=frame)}, {"sales": StructuredDataset})
    (workdir / "inputs.pb").write_bytes(inputs.to_flyte_idl().SerializeToString())


def read(outputs_pb: Path) -> None:
    import pandas as pd
    from flyteidl.core import literals_pb2
    from flytekit import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.literals import LiteralMap

    idl = literals_pb2.LiteralMap()
    idl.ParseFromString(outputs_pb.read_bytes())
    literal = LiteralMap.from_flyte_idl(idl).literals["result"]
    frame = TypeEngine.to_python_value(FlyteContextManager.current_context(), literal,
                                       pd.DataFrame)
    print(json.dumps(_rows(frame)))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(Path(sys.argv[2]), sys.argv[3])
    else:
        read(Path(sys.argv[2]))
