"""The floor of bench_serve.py: a bare grpcio SyncAgentService, no framework.

It does the least a connector can do for bench_serve's two templates and still be
correct: read the header and the inputs, compute, answer with one header.

* ``inc``: reads the integer input ``x`` from its literal and answers ``o0 = x + 1``;
* ``sqlite``: binds ``name`` and ``min_age`` into the query of flytekit's
  SQLite3Task, writes the rows as parquet under the task's output prefix and
  answers with the structured-dataset literal.

    python bench/serve_floor.py --port 0     # prints {"port": N} once serving
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, literals_pb2, types_pb2

QUERY = "select name, age from people where name = ? and age >= ?"


def _inc(inputs: literals_pb2.LiteralMap) -> literals_pb2.LiteralMap:
    x = inputs.literals["x"].scalar.primitive.integer
    out = literals_pb2.LiteralMap()
    out.literals["o0"].scalar.primitive.integer = x + 1
    return out


def _sqlite(tt: Any, inputs: literals_pb2.LiteralMap, prefix: str) -> literals_pb2.LiteralMap:
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = inputs.literals["name"].scalar.primitive.string_value
    min_age = inputs.literals["min_age"].scalar.primitive.integer
    uri = tt.custom.fields["uri"].string_value
    with contextlib.closing(sqlite3.connect(f"file:{os.path.abspath(uri)}?mode=ro",
                                            uri=True)) as con:
        cursor = con.execute(QUERY, (name, min_age))
        columns = [c[0] for c in cursor.description]
        rows = cursor.fetchall()
    table = pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})
    directory = os.path.join(prefix, "raw", uuid.uuid4().hex)
    os.makedirs(directory, exist_ok=True)
    pq.write_table(table, os.path.join(directory, "00000"))
    out = literals_pb2.LiteralMap()
    dataset = out.literals["results"].scalar.structured_dataset
    dataset.uri = directory
    dataset.metadata.structured_dataset_type.format = "parquet"
    dataset.metadata.structured_dataset_type.columns.extend(
        types_pb2.StructuredDatasetType.DatasetColumn(name=c) for c in columns)
    return out


def execute_task_sync(requests: Iterator[agent_pb2.ExecuteTaskSyncRequest],
                      context: grpc.ServicerContext
                      ) -> Iterator[agent_pb2.ExecuteTaskSyncResponse]:
    header = next(requests).header
    inputs = next(requests).inputs
    tt = header.template
    outputs = _inc(inputs) if tt.type == "inc" else _sqlite(tt, inputs, header.output_prefix)
    resource = agent_pb2.Resource(phase=execution_pb2.TaskExecution.SUCCEEDED, outputs=outputs)
    yield agent_pb2.ExecuteTaskSyncResponse(
        header=agent_pb2.ExecuteTaskSyncResponseHeader(resource=resource))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=72)
    args = parser.parse_args()
    handler = grpc.stream_stream_rpc_method_handler(
        execute_task_sync, request_deserializer=agent_pb2.ExecuteTaskSyncRequest.FromString,
        response_serializer=agent_pb2.ExecuteTaskSyncResponse.SerializeToString)
    server = grpc.server(ThreadPoolExecutor(max_workers=args.threads), handlers=[
        grpc.method_handlers_generic_handler("flyteidl.service.SyncAgentService",
                                             {"ExecuteTaskSync": handler})])
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(json.dumps({"port": port}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
