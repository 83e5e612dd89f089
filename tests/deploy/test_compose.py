"""docker-compose.yaml: valid against the Compose specification, and consistent with the
project (Airflow version of the lock, DAGs folder, connections, buckets, secrets, metrics)."""

from __future__ import annotations

import copy
import json
import re
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.unit
COMPOSE = ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
ONE_SHOT = {"airflow-init", "minio-init"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$|AUTH$")


def compose_schema() -> dict:
    """The Compose specification's JSON schema, as shipped (vendored) by check-jsonschema."""
    vendored = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return dict(json.loads(vendored.read_text()))


def load(path: Path = COMPOSE) -> dict:
    return dict(yaml.safe_load(path.read_text()))


def schema_errors(document: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(compose_schema())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def compose() -> dict:
    return load()


def env(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def test_the_file_follows_the_compose_specification(compose):
    assert schema_errors(compose) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("services", "redis", "depends_on"), {"postgres": {"condition": "ready"}}, "ready"),
        (("services", "mlflow", "ports"), "5000", "is not of type 'array'"),
        (("services", "postgres", "healthcheck", "intervall"), "5s", "intervall"),
        (("services", "grafana", "restart"), ["always"], "is not of type 'string'"),
    ],
)
def test_the_schema_check_catches_a_broken_file(compose, path, value, expected):
    broken = copy.deepcopy(compose)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    errors = schema_errors(broken)
    assert errors and any(expected in e for e in errors), errors


def test_every_long_running_service_has_a_healthcheck_and_restarts(compose):
    for name, service in compose["services"].items():
        if name in ONE_SHOT:
            continue
        assert service.get("healthcheck", {}).get("test"), name
        assert service.get("restart") == "always", name


def test_depends_on_waits_for_health_or_completion(compose):
    services = compose["services"]
    for name, service in services.items():
        for needed, rule in (service.get("depends_on") or {}).items():
            assert needed in services, f"{name} depends on unknown {needed}"
            if needed in ONE_SHOT:
                assert rule["condition"] == "service_completed_successfully", (name, needed)
            else:
                assert rule["condition"] == "service_healthy", (name, needed)
                assert services[needed].get("healthcheck"), needed
    for name in AIRFLOW_SERVICES[1:]:
        deps = services[name]["depends_on"]
        assert {"postgres", "redis", "mlflow", "minio-init", "airflow-init"} <= set(deps), name


def test_airflow_image_is_the_locked_version_on_the_projects_python():
    base = re.search(
        r"^FROM apache/airflow:(\S+)-python(\S+)$", (ROOT / "Dockerfile").read_text(), re.M
    )
    assert base, "Dockerfile must build on the official apache/airflow image"
    locked = re.search(r"^apache-airflow==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
    assert base.group(1) == locked.group(1)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'python_version = "{base.group(2)}"' in pyproject


def test_airflow_services_share_one_image_executor_folders_and_connections(compose):
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        service, settings = services[name], env(services[name])
        assert service["image"] == "mlops-airflow:latest", name
        assert settings["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        mounts = dict(volume.split(":")[:2] for volume in service["volumes"] if ":" in volume)
        assert mounts["./dags"] == settings["AIRFLOW__CORE__DAGS_FOLDER"], name
        assert settings["MLOPS_MODELS_DIR"].startswith(mounts["./include"]), name
        assert "@redis:6379" in settings["AIRFLOW__CELERY__BROKER_URL"], name
        assert "@postgres:5432/airflow" in settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert settings["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter", name
        assert "http://minio:9000" in settings["AIRFLOW_CONN_AWS_DEFAULT"], name
        assert settings["AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
    assert services["airflow-worker"]["deploy"]["replicas"] >= 2


def test_variables_and_connection_are_the_ones_the_dags_read(compose):
    settings_source = (ROOT / "mlops" / "settings.py").read_text()
    airflow = env(compose["services"]["airflow-scheduler"])
    for key in airflow:
        if key.startswith("AIRFLOW_VAR_"):
            assert f'"{key.removeprefix("AIRFLOW_VAR_").lower()}"' in settings_source, key
    assert 'AWS_CONN_ID = "aws_default"' in settings_source
    assert "AIRFLOW_CONN_AWS_DEFAULT" in airflow


def test_buckets_the_stack_uses_are_created(compose):
    services = compose["services"]
    made = services["minio-init"]["entrypoint"]
    lake = env(services["airflow-scheduler"])["AIRFLOW_VAR_MLOPS_LAKE_URI"]
    artifacts = re.search(r"--artifacts-destination s3://(\S+)", services["mlflow"]["entrypoint"])
    for bucket in (lake.removeprefix("s3://").split("/")[0], artifacts.group(1)):
        assert f"local/{bucket}" in made, bucket


def test_mlflow_server_proxies_artifacts_on_postgres_with_allowed_hosts(compose):
    mlflow = compose["services"]["mlflow"]
    command = mlflow["entrypoint"]
    assert "--allowed-hosts" in command
    assert "--backend-store-uri postgresql+psycopg2://" in command
    assert "--default-artifact-root" not in command  # proxied, not direct client access
    assert env(mlflow)["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"


def test_no_secret_is_written_in_the_file_and_every_variable_is_documented(compose):
    text = COMPOSE.read_text()
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_]+)(?::-[^}]*)?\}", text))  # $$ escapes
    assert used <= documented, used - documented
    for name, service in compose["services"].items():
        for key, value in env(service).items():
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                assert value.startswith("${") or value.startswith("$${"), (name, key)


def test_unauthenticated_services_are_published_on_loopback_only(compose):
    for name in ("mlflow", "minio", "prometheus", "grafana"):
        for port in compose["services"][name].get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert "NO authentication" in COMPOSE.read_text()


def test_mounted_files_exist_and_metrics_are_wired(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
    exporter = compose["services"]["statsd-exporter"]["command"]
    assert "--statsd.mapping-config=/etc/statsd/mapping.yml" in exporter
    scrape = yaml.safe_load((ROOT / "include/observability/prometheus.yml").read_text())
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["statsd-exporter:9102"]
    provisioning = ROOT / "include/observability/grafana"
    source = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
