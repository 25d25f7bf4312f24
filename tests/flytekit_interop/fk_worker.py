"""The flytekit half of the interop tests, run by the *flytekit* interpreter.

It never imports shimtask_core: the two sides only exchange bytes. It reads
one JSON request per line on stdin and writes one JSON answer per line on
stdout, so a test session starts flytekit (and pays its import) once.

Requests are ``{"items": [{"op": ..., ...}, ...]}``, answered item by item:

* ``type``: ``{"spec"}`` -> ``{"lt": b64 LiteralType}``
* ``to_literal``: ``{"spec", "value"[, "declared"]}`` -> ``{"lit": b64 Literal}`` (flytekit's
  TypeEngine; ``declared`` is the spec of the declared type when it is not ``spec``'s)
* ``to_python``: ``{"spec", "lit"}`` -> ``{"value"}`` (flytekit's TypeEngine)

An item that fails answers ``{"error": "..."}``. Types are *specs* (JSON):
``{"k": "int" | "float" | "str" | "bool" | "datetime" | "duration" | "none" | "dict"
| "file" | "dir" | "dataframe" | "schema"}``, ``{"k": "list"|"map"|"optional", "of": spec}``,
``{"k": "union", "of": [spec, ...]}``, ``{"k": "enum", "values": [...]}`` and
``{"k": "dataclass", "name": str, "fields": [[name, spec], ...]}``. Values are
tagged JSON (see ``to_wire``/``from_wire``; ``interop.py`` has the twin).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import json
import os
import sys
import typing

_TYPES: dict[str, typing.Any] = {}


def py_type(spec: dict[str, typing.Any]) -> typing.Any:
    key = json.dumps(spec, sort_keys=True)
    if key not in _TYPES:
        _TYPES[key] = _build(spec)
    return _TYPES[key]


def _build(spec: dict[str, typing.Any]) -> typing.Any:
    from flytekit.types.directory import FlyteDirectory
    from flytekit.types.file import FlyteFile
    from flytekit.types.schema import FlyteSchema

    kind = spec["k"]
    simple = {"int": int, "float": float, "str": str, "bool": bool, "datetime": dt.datetime,
              "duration": dt.timedelta, "none": type(None), "dict": dict, "file": FlyteFile,
              "dir": FlyteDirectory, "schema": FlyteSchema}
    if kind in simple:
        return simple[kind]
    if kind == "dataframe":
        import pandas as pd  # only the dataset tests need pandas (and pyarrow)

        return pd.DataFrame
    if kind == "list":
        return typing.List[py_type(spec["of"])]  # noqa: UP006 - flytekit's own spelling
    if kind == "map":
        return typing.Dict[str, py_type(spec["of"])]  # noqa: UP006
    if kind == "optional":
        return typing.Optional[py_type(spec["of"])]  # noqa: UP045
    if kind == "union":
        return typing.Union[tuple(py_type(s) for s in spec["of"])]  # noqa: UP007
    if kind == "enum":
        name = f"E{len(_TYPES)}"
        return _global(name, enum.Enum(name, [(f"m{i}", v) for i, v in enumerate(spec["values"])],
                                       module=__name__))
    if kind == "dataclass":
        fields = [(name, py_type(s)) for name, s in spec["fields"]]
        name = f"{spec.get('name', 'DC')}{len(_TYPES)}"
        return _global(name, dataclasses.make_dataclass(name, fields, namespace={
            "__module__": __name__}))
    raise ValueError(f"unknown spec {spec}")


def _global(name: str, cls: typing.Any) -> typing.Any:
    """Make a generated class importable by name (mashumaro's generated code looks it up)."""
    cls.__module__ = __name__
    globals()[name] = cls
    return cls


def to_wire(value: typing.Any) -> typing.Any:
    """A Python value as tagged JSON."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return {"$f": repr(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$td": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {"$d": [[to_wire(k), to_wire(v)] for k, v in value.items()]}
    type_name = type(value).__name__
    if type_name == "DataFrame":
        return {"$table": to_wire(value.to_dict("records"))}
    if type_name == "FlyteSchema":
        return {"$table": to_wire(value.open().all().to_dict("records"))}
    if type_name == "FlyteDirectory":
        root = value.download()
        files = {}
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                with open(path, "rb") as fh:
                    files[os.path.relpath(path, root)] = base64.b64encode(fh.read()).decode()
        return {"$dir": files}
    if type_name == "FlyteFile":
        with open(value.download(), "rb") as fh:
            return {"$file": base64.b64encode(fh.read()).decode()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$d": [[f.name, to_wire(getattr(value, f.name))]
                       for f in dataclasses.fields(value)]}
    raise TypeError(f"cannot send {type(value)}")


def from_wire(wire: typing.Any, spec: dict[str, typing.Any]) -> typing.Any:
    """Tagged JSON -> the Python value flytekit expects for ``spec``."""
    kind = spec["k"]
    if wire is None:
        return None
    if kind in ("optional", "union"):
        options = [spec["of"]] if kind == "optional" else spec["of"]
        for option in options:
            try:
                return from_wire(wire, option)
            except (TypeError, ValueError, KeyError):
                continue
        raise TypeError(f"no variant of {spec} takes {wire!r}")
    if kind == "float":
        if not isinstance(wire, dict) or "$f" not in wire:
            raise TypeError("not a float")
        return float(wire["$f"])
    if kind == "int":
        if type(wire) is not int:
            raise TypeError("not an int")
        return wire
    if kind == "str":
        if not isinstance(wire, str):
            raise TypeError("not a str")
        return wire
    if kind == "bool":
        if not isinstance(wire, bool):
            raise TypeError("not a bool")
        return wire
    if kind == "enum":
        if not isinstance(wire, str) or wire not in spec["values"]:
            raise ValueError("not an enum value")
        return py_type(spec)(wire)
    if kind == "datetime":
        return dt.datetime.fromisoformat(wire["$dt"])
    if kind == "duration":
        days, seconds, micros = wire["$td"]
        return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
    if kind == "list":
        if not isinstance(wire, list):
            raise TypeError("not a list")
        return [from_wire(v, spec["of"]) for v in wire]
    if kind == "map":
        return {k: from_wire(v, spec["of"]) for k, v in wire["$d"]}
    if kind == "dict":
        return _plain(wire)
    if kind == "dataclass":
        types = dict(spec["fields"])
        values = {k: from_wire(v, types[k]) for k, v in wire["$d"]}
        return py_type(spec)(**values)
    if kind in ("dataframe", "schema"):
        import pandas as pd

        frame = pd.DataFrame.from_records(_plain(wire["$table"]))
        if kind == "schema":
            from flytekit.types.schema import FlyteSchema

            schema = FlyteSchema()
            schema.open().write(frame)
            return schema
        return frame
    if kind in ("file", "dir"):
        return _local_blob(wire, kind)
    raise TypeError(f"cannot read {kind}")


def _plain(wire: typing.Any) -> typing.Any:
    if isinstance(wire, list):
        return [_plain(v) for v in wire]
    if isinstance(wire, dict):
        if "$f" in wire:
            return float(wire["$f"])
        if "$b" in wire:
            return base64.b64decode(wire["$b"])
        if "$d" in wire:
            return {_plain(k): _plain(v) for k, v in wire["$d"]}
        raise TypeError(f"unexpected {wire}")
    return wire


def _local_blob(wire: dict[str, typing.Any], kind: str) -> typing.Any:
    import tempfile

    from flytekit.types.directory import FlyteDirectory
    from flytekit.types.file import FlyteFile

    root = tempfile.mkdtemp(prefix="fk-worker-")
    if kind == "file":
        path = os.path.join(root, wire.get("name", "data.bin"))
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(wire["$file"]))
        return FlyteFile(path)
    for relative, data in wire["$dir"].items():
        path = os.path.join(root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))
    return FlyteDirectory(root)


def main() -> None:
    import logging

    logging.disable(logging.WARNING)
    from flyteidl.core import literals_pb2
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.literals import Literal

    ctx = FlyteContextManager.current_context()

    def handle(op: str, item: dict[str, typing.Any]) -> dict[str, typing.Any]:
        spec = item["spec"]
        t = py_type(spec)
        if op == "type":
            return {"lt": _b64(TypeEngine.to_literal_type(t).to_flyte_idl())}
        if op == "to_literal":
            value = from_wire(item["value"], spec)
            declared = py_type(item.get("declared", spec))  # e.g. a DataFrame for a schema
            lit = TypeEngine.to_literal(ctx, value, t, TypeEngine.to_literal_type(declared))
            return {"lit": _b64(lit.to_flyte_idl())}
        if op == "to_python":
            pb = literals_pb2.Literal()
            pb.ParseFromString(base64.b64decode(item["lit"]))
            value = TypeEngine.to_python_value(ctx, Literal.from_flyte_idl(pb), t)
            return {"value": to_wire(value)}
        raise ValueError(f"unknown op {op}")

    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers on the protocol stream
    out.write(json.dumps({"ready": True, "flytekit": _version()}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        answers = []
        for item in request["items"]:
            try:
                answers.append(handle(item.get("op") or request["op"], item))
            except Exception as exc:
                answers.append({"error": f"{type(exc).__name__}: {exc}"})
        out.write(json.dumps({"items": answers}) + "\n")
        out.flush()


def _b64(message: typing.Any) -> str:
    return base64.b64encode(message.SerializeToString()).decode()


def _version() -> str:
    from importlib.metadata import version

    return version("flytekit")


if __name__ == "__main__":
    main()
