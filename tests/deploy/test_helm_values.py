"""deploy/helm/values.yaml: valid for the official Airflow chart (its values schema, an excerpt
kept in the repository) and right for the project: the image that bakes code and DAGs at one
commit, the FAB auth manager the lock pins, remote logs, our StatsD mapping, the gpu pool,
pods for GPU training, no secret in the file."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT
from tests.deploy.test_compose import with_value
from tests.deploy.test_training_image import pins

pytestmark = pytest.mark.unit
HELM = ROOT / "deploy" / "helm"
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


@pytest.fixture(scope="module")
def values() -> dict:
    return dict(yaml.safe_load((HELM / "values.yaml").read_text()))


def schema_errors(document: dict) -> list[str]:
    schema = json.loads((HELM / "chart-values-schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def env(values: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in values["env"]}


# In the chart, not in the excerpt: the Airflow 2 web server, whose defaultUser the user
# creation job still reads.
OUTSIDE_THE_EXCERPT = {"webserver"}


def test_the_values_follow_the_charts_schema(values):
    assert schema_errors(values) == []
    schema = json.loads((HELM / "chart-values-schema.json").read_text())
    assert set(values) - set(schema["properties"]) == OUTSIDE_THE_EXCERPT  # no typo passes


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("workers", "replicas"), "two", "is not of type 'integer'"),
        (("data", "metadataSecret"), "x", "Additional properties are not allowed"),
        (("secret",), [{"envName": "X"}], "'secretName' is a required property"),
        (("dags", "gitSync", "enabled"), "yes", "is not of type 'boolean'"),
    ],
)
def test_the_schema_check_catches_a_broken_file(values, path, value, expected):
    errors = schema_errors(with_value(values, path, value))
    assert errors and any(expected in e for e in errors), errors


def test_the_image_is_the_locked_airflow_with_code_and_dags_from_one_commit(values):
    assert values["airflowVersion"] == pins(ROOT / "constraints.txt")["apache-airflow"]
    assert values["executor"] == "CeleryExecutor"
    assert values["dags"]["gitSync"]["enabled"] is False
    assert values["dags"]["persistence"]["enabled"] is False
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ENV MLOPS_MODELS_DIR={env(values)['MLOPS_MODELS_DIR']}" in dockerfile
    assert values["config"]["core"]["dags_folder"] == "/opt/airflow/dags"
    assert re.search(r"^COPY .* dags /opt/airflow/dags$", dockerfile, re.M)


def test_logins_come_from_the_fab_auth_manager_the_lock_pins(values):
    assert values["config"]["core"]["auth_manager"] == FAB
    assert "apache-airflow-providers-fab" in pins(ROOT / "requirements.txt")
    assert "apache-airflow-providers-fab" in pins(ROOT / "constraints.txt")
    assert values["apiServer"]["defaultUser"]["enabled"] is False  # no admin/admin


def test_task_logs_go_to_the_object_store(values):
    logging = values["config"]["logging"]
    assert logging["remote_logging"] == "True"
    assert logging["remote_base_log_folder"].startswith("s3://")
    assert logging["remote_log_conn_id"] == "aws_default"
    assert {s["envName"] for s in values["secret"]} == {"AIRFLOW_CONN_AWS_DEFAULT"}


def test_metrics_use_the_projects_statsd_mapping(values):
    mapping = yaml.safe_load((ROOT / "include/observability/statsd_mapping.yml").read_text())
    assert values["statsd"]["enabled"] is True
    assert values["statsd"]["overrideMappings"] == mapping["mappings"]
    assert values["config"]["metrics"]["statsd_on"] == "True"


def test_the_gpu_pool_is_created_once_and_pods_can_run(values):
    command = " ".join(values["migrateDatabaseJob"]["args"])
    assert "airflow db migrate" in command
    assert re.search(r"airflow pools get gpu [^|]*\|\| airflow pools set gpu", command)
    assert values["allowPodLaunching"] is True
    conn = json.loads(env(values)["AIRFLOW_CONN_KUBERNETES_DEFAULT"])
    assert conn["extra"]["in_cluster"] is True
    assert values["workers"]["terminationGracePeriodSeconds"] >= 3600


def test_the_file_holds_no_secret_only_the_names_of_kubernetes_secrets(values):
    for key in ("fernetKeySecretName", "jwtSecretName", "apiSecretKeySecretName"):
        assert values[key], key
    for key in ("fernetKey", "jwtSecret", "apiSecretKey", "webserverSecretKey"):
        assert key not in values, key
    assert set(values["data"]) == {"metadataSecretName", "resultBackendSecretName"}
    lines = (HELM / "values.yaml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert not re.search(r"(?i)(password|secret_key|access_key)\s*[:=]\s*\S", text)
