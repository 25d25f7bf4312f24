"""The seed API (flytekit.core.shim_task) kept faithfully, plus the hook and run_template."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flyteidl.core import literals_pb2

import shimtask_core
from shimtask_core import (
    ExecutableTemplateShimTask,
    ExecutorConflict,
    ExecutorFailed,
    ExecutorRegistry,
    OutputMismatch,
    ShimTaskExecutor,
    TemplateError,
    ValueTypeError,
    custom_of,
    hookimpl,
    make_template,
    run_template,
)
from shimtask_core.literals import InterfaceCodec


class Doubler(ShimTaskExecutor[Any]):
    def execute_from_model(self, tt: Any, **kwargs: Any) -> Any:
        return kwargs["x"] * custom_of(tt).get("factor", 2)


module_level_executor = Doubler()


def test_executor_base_must_be_overridden() -> None:
    with pytest.raises(NotImplementedError, match="must be overridden"):
        ShimTaskExecutor().execute_from_model(make_template("t", "x"))


def test_instance_tracking_finds_module_and_lhs() -> None:
    assert module_level_executor.instantiated_in == __name__
    assert module_level_executor.lhs == "module_level_executor"
    assert module_level_executor.location == f"{__name__}.module_level_executor"


def test_find_lhs_explains_an_unbound_instance() -> None:
    local = Doubler()
    assert local.instantiated_in == __name__
    with pytest.raises(ValueError, match="not bound to a module-level name"):
        local.find_lhs()


def test_task_properties_and_execute() -> None:
    tt = make_template("double-it", "doubler", inputs={"x": int}, outputs={"o0": int},
                       custom={"factor": 3})
    task = ExecutableTemplateShimTask(tt, Doubler)
    assert task.name == "double-it"
    assert task.task_template is tt
    assert task.executor_type is Doubler
    assert isinstance(task.executor, Doubler)
    assert task.execute(x=5) == 15
    assert task.pre_execute("params") == "params"
    assert task.post_execute(None, 7) == 7


def test_executor_type_may_be_a_registered_name(registry: ExecutorRegistry) -> None:
    registry.register("doubler", Doubler)
    tt = make_template("t", "doubler", inputs={"x": int}, outputs={"o0": int})
    task = ExecutableTemplateShimTask(tt, "doubler", registry=registry)
    assert task.executor_type is Doubler


def test_dispatch_execute_with_no_context_round_trips_literals() -> None:
    tt = make_template("t", "doubler", inputs={"x": int}, outputs={"o0": int})
    task = ExecutableTemplateShimTask(tt, Doubler)
    inputs = literals_pb2.LiteralMap(literals={
        "x": literals_pb2.Literal(scalar=literals_pb2.Scalar(
            primitive=literals_pb2.Primitive(integer=21)))})
    out = task.dispatch_execute(None, inputs)
    assert out.literals["o0"].scalar.primitive.integer == 42


def test_run_template_validates_inputs_and_outputs(registry: ExecutorRegistry) -> None:
    registry.register("doubler", Doubler)
    tt = make_template("t", "doubler", inputs={"x": int}, outputs={"o0": int})
    assert run_template(tt, registry=registry, x=4) == 8
    with pytest.raises(ValueTypeError, match="input 'x': expected int, got str"):
        run_template(tt, registry=registry, x="4")
    floats = make_template("t", "doubler", inputs={"x": float}, outputs={"o0": int})
    with pytest.raises(ValueTypeError, match=r"output 'o0': expected int, got float 9\.0"):
        run_template(floats, registry=registry, x=4.5)


def test_custom_integers_come_back_as_int() -> None:
    tt = make_template("t", "x", custom={"n": 5, "xs": [1, 2.5], "big": 2**53, "f": 1.5})
    assert custom_of(tt) == {"n": 5, "xs": [1, 2.5], "big": 2**53, "f": 1.5,
                             "executor_type": "x"}
    assert type(custom_of(tt)["n"]) is int


def test_executor_type_falls_back_to_template_type() -> None:
    tt = make_template("t", "ignored")
    tt.custom.Clear()
    tt.type = "sqlite"
    assert shimtask_core.executor_type_of(tt) == "sqlite"
    tt.type = ""
    with pytest.raises(TemplateError, match="names no executor"):
        shimtask_core.executor_type_of(tt)
    tt.custom.update({"executor_type": 3})
    with pytest.raises(TemplateError, match="must be a non-empty string"):
        shimtask_core.executor_type_of(tt)


class Multi(ShimTaskExecutor[Any]):
    result: Any = None

    def execute_from_model(self, tt: Any, **kwargs: Any) -> Any:
        return type(self).result


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ((1, "a"), "return a dict keyed by output name"),
        ({"count": 1}, "missing 'label'"),
        ({"count": 1, "label": "a", "extra": 2}, "unknown 'extra'"),
        (1, "instead of a dict keyed by output name"),
    ],
)
def test_multiple_outputs_are_never_mapped_by_position(
    registry: ExecutorRegistry, result: Any, message: str
) -> None:
    Multi.result = result
    registry.register("multi", Multi, replace=True)
    tt = make_template("t", "multi", outputs={"count": int, "label": str})
    with pytest.raises(OutputMismatch, match=message):
        run_template(tt, registry=registry)


def test_named_tuple_and_single_output_dict_are_by_name(registry: ExecutorRegistry) -> None:
    from typing import NamedTuple

    class Out(NamedTuple):
        label: str
        count: int

    Multi.result = Out(label="x", count=2)
    registry.register("multi", Multi, replace=True)
    tt = make_template("t", "multi", outputs={"count": int, "label": str})
    assert run_template(tt, registry=registry) == {"count": 2, "label": "x"}
    Multi.result = {"when": dt.datetime(2020, 1, 1)}
    one = make_template("t", "multi", outputs={"when": dt.datetime})
    assert run_template(one, registry=registry) == dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


def test_executor_exceptions_are_wrapped_with_the_executor_name(
    registry: ExecutorRegistry,
) -> None:
    class Boom(ShimTaskExecutor[Any]):
        def execute_from_model(self, tt: Any, **kwargs: Any) -> Any:
            raise KeyError("nope")

    registry.register("boom", Boom)
    with pytest.raises(ExecutorFailed, match="executor 'boom' failed: KeyError") as info:
        run_template(make_template("t", "boom"), registry=registry)
    assert isinstance(info.value.cause, KeyError)


def test_register_conflicts_unless_replace(registry: ExecutorRegistry) -> None:
    registry.register("d", Doubler)
    with pytest.raises(ExecutorConflict, match="registered in-process"):
        registry.register("d", Multi)
    registry.register("d", Multi, replace=True)
    assert registry.resolve("d") is Multi
    with pytest.raises(TypeError):
        registry.register("x", object)  # type: ignore[arg-type]


def test_in_process_wrapper_sees_inputs_and_result(registry: ExecutorRegistry) -> None:
    seen: list[tuple[str, dict[str, Any], Any]] = []

    class Recorder:
        @hookimpl(wrapper=True)
        def execute_from_model(self, tt: Any, inputs: dict[str, Any]) -> Any:
            result = yield
            seen.append((tt.id.name, dict(inputs), result))
            return result

    registry.register("doubler", Doubler)
    registry.add_plugin(Recorder())
    tt = make_template("recorded", "doubler", inputs={"x": int}, outputs={"o0": int})
    assert run_template(tt, registry=registry, x=2) == 4
    assert seen == [("recorded", {"x": 2}, 4)]


def test_interface_codec_rejects_unknown_and_missing_inputs() -> None:
    tt = make_template("t", "x", inputs={"a": int, "b": str})
    codec = InterfaceCodec(tt.interface)
    with pytest.raises(shimtask_core.UnexpectedInput, match="'c'"):
        codec.encode_inputs({"a": 1, "b": "x", "c": 3})
    with pytest.raises(shimtask_core.MissingInput, match="'b'"):
        codec.encode_inputs({"a": 1})


class VersionOne(ShimTaskExecutor[Any]):
    task_type_versions = frozenset({1})

    def execute_from_model(self, tt: Any, **kwargs: Any) -> Any:
        return "ran"


def test_template_version_is_checked_before_execution(registry: ExecutorRegistry) -> None:
    registry.register("v1", VersionOne)
    accepted = make_template("t", "v1", outputs={"o0": str}, task_type_version=1)
    assert run_template(accepted, registry=registry) == "ran"
    rejected = make_template("t", "v1", outputs={"o0": str}, task_type_version=2)
    with pytest.raises(shimtask_core.VersionMismatch, match="task_type_version"):
        run_template(rejected, registry=registry)
    with pytest.raises(shimtask_core.VersionMismatch):
        ExecutableTemplateShimTask(rejected, VersionOne, registry=registry)
