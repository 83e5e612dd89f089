"""docker-compose.yaml: valid against the Compose specification, and consistent with the
project (Airflow version of the lock, DAGs folder, connections, buckets, secrets, metrics)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
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


def with_value(document: dict, path: tuple[str, ...], value: object) -> dict:
    """A copy of ``document`` with ``value`` at ``path`` (to show a schema check can fail)."""
    changed = copy.deepcopy(document)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


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
    errors = schema_errors(with_value(compose, path, value))
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


def test_airflow_services_share_one_image_executor_folders_and_settings(compose):
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        service, settings = services[name], env(services[name])
        assert service["image"] == "mlops-airflow:latest", name
        assert settings["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        mounts = dict(volume.split(":")[:2] for volume in service["volumes"] if ":" in volume)
        assert mounts["./dags"] == settings["AIRFLOW__CORE__DAGS_FOLDER"], name
        assert settings["MLOPS_MODELS_DIR"].startswith(mounts["./include"]), name
        assert settings["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter", name
        assert settings["AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
    for name in ("airflow-scheduler", "airflow-worker"):
        settings = env(services[name])
        assert "@redis:6379" in settings["AIRFLOW__CELERY__BROKER_URL"], name
        assert "@postgres:5432/celery" in settings["AIRFLOW__CELERY__RESULT_BACKEND"], name
    for name in set(AIRFLOW_SERVICES) - {"airflow-worker"}:
        conn = env(services[name])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert "://airflow:" in conn and "@postgres:5432/airflow" in conn, name
    for name in ("airflow-apiserver", "airflow-triggerer", "airflow-worker"):
        assert "http://minio:9000" in env(services[name])["AIRFLOW_CONN_AWS_DEFAULT"], name
    assert services["airflow-worker"]["deploy"]["replicas"] >= 2


def test_variables_and_connection_are_the_ones_the_dags_read(compose):
    settings_source = (ROOT / "mlops" / "settings.py").read_text()
    airflow = env(compose["services"]["airflow-worker"])
    for key in airflow:
        if key.startswith("AIRFLOW_VAR_"):
            assert f'"{key.removeprefix("AIRFLOW_VAR_").lower()}"' in settings_source, key
    assert 'AWS_CONN_ID = "aws_default"' in settings_source
    assert "AIRFLOW_CONN_AWS_DEFAULT" in airflow


def test_buckets_the_stack_uses_are_created(compose):
    services = compose["services"]
    made = (ROOT / "include/compose/minio/init.sh").read_text()
    lake = env(services["airflow-worker"])["AIRFLOW_VAR_MLOPS_LAKE_URI"]
    logs = env(services["airflow-worker"])["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"]
    artifacts = env(services["mlflow"])["MLFLOW_ARTIFACTS_DESTINATION"]
    for uri in (lake, logs, artifacts):
        assert f"local/{uri.removeprefix('s3://').split('/')[0]}" in made, uri


def test_mlflow_server_proxies_artifacts_on_postgres_with_its_settings_out_of_argv(compose):
    mlflow = compose["services"]["mlflow"]
    command, settings = " ".join(mlflow["entrypoint"]), env(mlflow)
    assert "--backend-store-uri" not in command and "${" not in command  # no password in argv
    assert "--default-artifact-root" not in command  # proxied, not direct client access
    assert settings["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://mlflow:")
    assert settings["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://mlflow-artifacts"
    assert settings["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    # the names and origins it answers come from .env (a proxy's name, a service name)
    assert settings["MLFLOW_SERVER_ALLOWED_HOSTS"].startswith("${MLFLOW_ALLOWED_HOSTS:-")
    assert settings["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"].startswith(
        "${MLFLOW_CORS_ALLOWED_ORIGINS"
    )


def test_no_secret_is_written_in_the_file_and_every_variable_is_documented(compose):
    text = COMPOSE.read_text()
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_]+)(?::?[-?][^}]*)?\}", text))  # $$ escapes
    assert used <= documented, used - documented
    for name, service in compose["services"].items():
        for key, value in env(service).items():
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                assert value.startswith("${") or value.startswith("$${"), (name, key)


def test_only_the_ui_is_published_beyond_loopback(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            if name == "airflow-apiserver":
                assert str(port) == "8080:8080"
            else:
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


def seconds(duration: str) -> int:
    """A compose duration such as ``1h``, ``90s`` or ``1h30m``."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration))


def test_every_airflow_component_starts_after_the_metrics_exporter(compose):
    # StatsD's host is resolved when a process starts: metrics are off for its whole life
    # if statsd-exporter did not exist yet (the init job sends none worth keeping)
    for name in AIRFLOW_SERVICES[1:]:
        rule = compose["services"][name]["depends_on"]["statsd-exporter"]
        assert rule == {"condition": "service_healthy"}, name


def test_healthchecks_allow_for_start_up_and_time_out(compose):
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        if not check or check.get("disable"):
            assert name in ONE_SHOT, name
            continue
        assert seconds(check["start_period"]) >= 10, name
        assert 0 < seconds(check["timeout"]) <= seconds(check["interval"]), name


def test_workers_shut_down_warm_and_pods_survive_a_restart(compose):
    worker = compose["services"]["airflow-worker"]
    assert env(worker)["DUMB_INIT_SETSID"] == "0"
    assert seconds(worker["stop_grace_period"]) >= 3600  # docker's default is 10 s
    pod = (ROOT / "mlops" / "tasks" / "pod.py").read_text()
    assert "reattach_on_restart=False" not in pod  # a retried pod task re-attaches to its pod


def test_init_is_idempotent_and_keeps_the_gpu_pool_an_operator_set(compose):
    command = " ".join(compose["services"]["airflow-init"]["command"])
    assert re.search(r"airflow pools get gpu [^|]*\|\| airflow pools set gpu", command)
    init = (ROOT / "include/compose/minio/init.sh").read_text()
    assert "mc mb --ignore-existing" in init


def test_task_logs_go_to_the_object_store_with_one_signing_key(compose):
    services = compose["services"]
    for name in ("airflow-apiserver", "airflow-triggerer", "airflow-worker"):
        settings = env(services[name])
        assert settings["AIRFLOW__LOGGING__REMOTE_LOGGING"] == "True", name
        assert settings["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"] == "s3://mlops-logs/airflow"
        assert settings["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"] == "aws_default", name
    policy = json.loads((ROOT / "include/compose/minio/lake-and-logs.json").read_text())
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert {"arn:aws:s3:::mlops-logs", "arn:aws:s3:::mlops-logs/*"} <= resources


def test_pod_execution_has_an_optional_kubernetes_connection(compose):
    services = compose["services"]
    for name in ("airflow-worker", "airflow-triggerer"):
        conn = json.loads(env(services[name])["AIRFLOW_CONN_KUBERNETES_DEFAULT"])
        assert conn["conn_type"] == "kubernetes"
        mount = next(v for v in services[name]["volumes"] if v.endswith(":/opt/airflow/kube:ro"))
        default = re.fullmatch(r"\$\{KUBECONFIG_DIR:-(\S+)\}:/opt/airflow/kube:ro", mount)
        assert default and (ROOT / default[1]).is_dir(), mount
        assert conn["extra"]["kube_config_path"].startswith("/opt/airflow/kube/")


def test_compose_smoke_says_it_needs_an_engine_where_none_runs(tmp_path):
    # a docker client whose engine does not answer (as here): the smoke stops at once,
    # clearly, and writes no .env and starts nothing
    (tmp_path / "docker").write_text(
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n"
    )
    (tmp_path / "docker").chmod(0o755)
    script = ROOT / "scripts" / "compose_smoke.sh"
    had_env = (ROOT / ".env").exists()
    path = f"{tmp_path}:{os.environ['PATH']}"
    done = subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "needs a running container engine" in done.stderr
    assert (ROOT / ".env").exists() == had_env  # no .env written
    text = script.read_text()
    assert "trap 'compose logs" in text and "down -v -t 30 --remove-orphans' EXIT" in text
    assert ".venv/bin/python -m scripts.compose_night" in text  # the repository on sys.path
