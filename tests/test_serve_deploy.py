"""The deployment files of `shimtask serve` agree with the command and with each other.

No cluster runs here; what can drift is checked: the container's arguments are
ones `shimtask serve` accepts, the probes and the Service point at the port it
listens on, and propeller's configuration reaches that Service and routes task
types the way docs/serve.md explains.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest

from shimtask_core.cli import _build_parser
from shimtask_core.serve import ServeConfig

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "deploy" / "kubernetes" / "shimtask-serve.yaml"
PROPELLER = REPO / "deploy" / "flyte" / "propeller-connector.yaml"
DOCKERFILE = REPO / "Dockerfile.serve"


def _serve_config(args: list[str]) -> ServeConfig:
    parsed: argparse.Namespace = _build_parser().parse_args(["serve", *args])
    names = ("host", "port", "workers", "max_queue", "timeout", "grace", "metrics_port",
             "metrics_host", "tls_cert", "tls_key")
    return ServeConfig(**{n: getattr(parsed, n) for n in names
                          if getattr(parsed, n) is not None})


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    docs = {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text()) if d}
    assert set(docs) == {"Deployment", "Service"}
    return docs


def test_the_container_runs_arguments_shimtask_serve_accepts(manifest: dict[str, Any]) -> None:
    pod = manifest["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config = _serve_config(container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": config.port, "metrics": config.metrics_port}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == config.port  # the gRPC health service
    # SIGTERM's drain ends before Kubernetes' SIGKILL
    assert config.grace < pod["terminationGracePeriodSeconds"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_the_service_is_headless_and_targets_the_grpc_port(manifest: dict[str, Any]) -> None:
    service = manifest["Service"]["spec"]
    assert service["clusterIP"] == "None"  # DNS returns every pod: round-robin sees them all
    pod_labels = manifest["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= pod_labels.items()
    grpc_port = next(p for p in service["ports"] if p["name"] == "grpc")
    assert grpc_port["targetPort"] == "grpc"


def test_propeller_reaches_the_service_and_routes_types_to_the_connector(
        manifest: dict[str, Any]) -> None:
    config = yaml.safe_load(PROPELLER.read_text())
    plugins = config["tasks"]["task-plugins"]
    assert "connector-service" in plugins["enabled-plugins"]
    connector = config["plugins"]["connector-service"]
    endpoint = connector["defaultConnector"]["endpoint"]
    name = manifest["Service"]["metadata"]["name"]
    port = next(p["port"] for p in manifest["Service"]["spec"]["ports"] if p["name"] == "grpc")
    assert re.fullmatch(rf"dns:///{name}\.[a-z0-9-]+\.svc\.cluster\.local:{port}", endpoint)
    routed = {t for t, plugin in plugins["default-for-task-types"].items()
              if plugin == "connector-service"}
    assert set(connector["supportedTaskTypes"]) == routed
    assert "connectorForTaskTypes" not in connector  # it would force sync executors async
    assert "ExecuteTaskSync" in connector["defaultConnector"]["timeouts"]


def test_the_image_runs_shimtask_serve_with_the_manifest_ports(
        manifest: dict[str, Any]) -> None:
    text = DOCKERFILE.read_text()
    assert 'ENTRYPOINT ["shimtask", "serve"]' in text
    (cmd,) = re.findall(r"^CMD (\[.*\])$", text, re.MULTILINE)
    config = _serve_config(yaml.safe_load(cmd))
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.*)$", text, re.MULTILINE)[0].split()}
    assert exposed == {config.port, config.metrics_port}
    assert "serve" in re.findall(r"^ARG EXTRAS=(.*)$", text, re.MULTILINE)[0].split(",")
