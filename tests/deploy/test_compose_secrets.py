"""Secrets in the compose stack go only where they are needed, every one is required, and
``make env`` makes strong ones. What each Airflow component needs is what Airflow 3.3's own
code reads (docs/security.md lists it): workers run user code, so they hold nothing that can
mint a token, read the metadata DB or administer MinIO or PostgreSQL."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from tests.conftest import ROOT
from tests.deploy.test_compose import COMPOSE, env, load

pytestmark = pytest.mark.unit
API, SCHEDULER, DAG_PROCESSOR = "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"
TRIGGERER, WORKER, INIT = "airflow-triggerer", "airflow-worker", "airflow-init"
# setting -> the services that must hold it (and no other may)
WHO_HOLDS = {
    # signs UI/REST tokens (api-server) and each task's execution token (scheduler)
    "AIRFLOW__API_AUTH__JWT_SECRET": {API, SCHEDULER},
    # signs the api-server's log requests; the log servers of workers and triggerer check it
    "AIRFLOW__API__SECRET_KEY": {API, TRIGGERER, WORKER},
    # decrypts connections, variables and trigger arguments stored in the metadata DB
    "AIRFLOW__CORE__FERNET_KEY": {API, SCHEDULER, DAG_PROCESSOR, TRIGGERER},
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": {INIT, API, SCHEDULER, DAG_PROCESSOR, TRIGGERER},
    "AIRFLOW__CELERY__BROKER_URL": {SCHEDULER, WORKER},
    "AIRFLOW__CELERY__RESULT_BACKEND": {SCHEDULER, WORKER},
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": {API},
    "AIRFLOW_CONN_AWS_DEFAULT": {API, TRIGGERER, WORKER},  # the lake and remote logs
    "MINIO_ROOT_PASSWORD": {"minio", "minio-init"},
    "POSTGRES_PASSWORD": {"postgres"},
}
REQUIRED = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(:?[-?])?[^}]*\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return load()


def holders(compose: dict, setting: str) -> set[str]:
    return {name for name, s in compose["services"].items() if setting in env(s)}


@pytest.mark.parametrize("setting", sorted(WHO_HOLDS))
def test_each_secret_goes_only_to_the_services_that_need_it(compose, setting):
    assert holders(compose, setting) == WHO_HOLDS[setting]


def test_components_that_share_a_key_share_one_value(compose):
    for setting, services in WHO_HOLDS.items():
        values = {env(compose["services"][name])[setting] for name in services}
        assert len(values) == 1, setting


def test_no_airflow_component_holds_an_administrators_credentials(compose):
    for name, service in compose["services"].items():
        if name.startswith("airflow-") or name == "mlflow":
            text = " ".join(env(service).values())
            for admin in ("POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
                assert "${" + admin not in text, (name, admin)


def test_the_admin_passwords_volume_is_mounted_on_the_api_server_only(compose):
    for name, service in compose["services"].items():
        mounted = any(str(v).startswith("airflow-auth:") for v in service.get("volumes", []))
        assert mounted == (name == API), name


def test_every_secret_is_required_so_a_missing_one_stops_the_stack():
    optional = set()
    for match in REQUIRED.finditer(COMPOSE.read_text()):
        name, kind = match[1], match[2]
        if re.search(r"PASSWORD|SECRET|FERNET|KEY$", name) and kind != ":?":
            optional.add(name)
    assert optional == set()


def test_the_database_roles_and_minio_users_are_one_per_client(compose):
    services = compose["services"]
    urls = {
        "airflow": env(services[API])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        "celery": env(services[WORKER])["AIRFLOW__CELERY__RESULT_BACKEND"],
        "mlflow": env(services["mlflow"])["MLFLOW_BACKEND_STORE_URI"],
    }
    for role, url in urls.items():
        assert re.search(rf"://{role}:\$\{{{role.upper()}_DB_PASSWORD:\?", url), role
        assert url.endswith(f"@postgres:5432/{role}"), role
    init = (ROOT / "include/compose/minio/init.sh").read_text()
    assert 'attach mlops-lake-and-logs "$AIRFLOW_S3_ACCESS_KEY"' in init
    assert 'attach mlops-mlflow-artifacts "$MLFLOW_S3_ACCESS_KEY"' in init
    assert "|| true" not in init  # a failure to attach a policy stops the init job
    assert "AIRFLOW_S3_ACCESS_KEY" in env(services[WORKER])["AIRFLOW_CONN_AWS_DEFAULT"]
    assert env(services["mlflow"])["AWS_ACCESS_KEY_ID"].startswith("${MLFLOW_S3_ACCESS_KEY:?")


def run_make_env(tmp_path) -> subprocess.CompletedProcess:
    out = tmp_path / ".env"
    command = [sys.executable, str(ROOT / "scripts" / "make_env.py"), "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True)


def make_env(tmp_path) -> dict[str, str]:
    out = tmp_path / ".env"
    assert run_make_env(tmp_path).returncode == 0
    lines = (line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    return {k: v for k, v in lines if not k.startswith("#")}


def test_make_env_fills_every_secret_the_stack_requires_with_a_strong_value(tmp_path):
    made = make_env(tmp_path)
    required = {m[1] for m in REQUIRED.finditer(COMPOSE.read_text()) if m[2] == ":?"}
    assert required <= {k for k, v in made.items() if v}
    secrets = {k: v for k, v in made.items() if re.search(r"PASSWORD|SECRET|FERNET", k)}
    assert len(set(secrets.values())) == len(secrets)  # no value twice
    for name, value in secrets.items():
        if name != "AIRFLOW_FERNET_KEY":
            assert re.fullmatch(r"[0-9a-f]{40,64}", value), name  # 160+ bits, URL- and JSON-safe
    Fernet(made["AIRFLOW_FERNET_KEY"].encode())  # a valid key
    assert len(base64.urlsafe_b64decode(made["AIRFLOW_FERNET_KEY"])) == 32
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600


def test_make_env_again_keeps_every_value_and_adds_only_what_is_missing(tmp_path):
    first = make_env(tmp_path)
    text = (tmp_path / ".env").read_text()
    edited = text.replace(f"REDIS_PASSWORD={first['REDIS_PASSWORD']}", "REDIS_PASSWORD=")
    (tmp_path / ".env").write_text(edited + "MY_OWN=kept\n")
    again = make_env(tmp_path)
    assert again["REDIS_PASSWORD"] and again["REDIS_PASSWORD"] != first["REDIS_PASSWORD"]
    assert {k: v for k, v in again.items() if k != "REDIS_PASSWORD" and k != "MY_OWN"} == {
        k: v for k, v in first.items() if k != "REDIS_PASSWORD"
    }
    assert again["MY_OWN"] == "kept"


def test_make_env_refuses_placeholders_left_in_an_older_env(tmp_path):
    make_env(tmp_path)
    good = (tmp_path / ".env").read_text()
    lines = good.splitlines()
    old = ["POSTGRES_PASSWORD=change-me", "AIRFLOW_FERNET_KEY=nope"]  # as an older .env had
    (tmp_path / ".env").write_text("\n".join(lines + old) + "\n")
    done = run_make_env(tmp_path)
    assert done.returncode == 1
    assert "AIRFLOW_FERNET_KEY, POSTGRES_PASSWORD" in done.stdout
    assert (tmp_path / ".env").read_text() == "\n".join(lines + old) + "\n"  # untouched
