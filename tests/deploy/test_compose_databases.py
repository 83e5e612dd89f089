"""The compose stack's PostgreSQL init script, run for real against this machine's
PostgreSQL (as the official image runs it: bash, the superuser in POSTGRES_USER): one role and
one database per client, and no client may connect to another's database. A missing password
stops it with the variable's name, before anything is created."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration
SCRIPT = ROOT / "include" / "compose" / "postgres-init.sh"
CLIENTS = ("airflow", "mlflow", "celery")
PG = {"PGHOST": "127.0.0.1", "PGPORT": "5432"}


def psql(sql: str, user: str = "postgres", db: str = "postgres") -> subprocess.CompletedProcess:
    command = ["psql", "-U", user, "-d", db, "-Atc", sql]
    return subprocess.run(command, env={**os.environ, **PG}, capture_output=True, text=True)


def drop_clients() -> None:
    for name in CLIENTS:
        psql(f'DROP DATABASE IF EXISTS "{name}"')
        psql(f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def clean_server():
    """The server as the test found it: it refuses to run where roles or databases of these
    names exist already (a developer's real ones), and drops only what it created."""
    if psql("select 1").returncode:
        pytest.fail("PostgreSQL on 127.0.0.1:5432 is needed (trust auth, user postgres)")
    found = psql(
        "select rolname from pg_roles where rolname in ('airflow', 'mlflow', 'celery')"
        " union all select datname from pg_database where datname in"
        " ('airflow', 'mlflow', 'celery')"
    ).stdout.split()
    if found:
        pytest.fail(f"{found} exist on this PostgreSQL; this test creates and drops them")
    yield
    drop_clients()


def run_init(**passwords: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **PG, "POSTGRES_USER": "postgres", **passwords}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)


def test_one_role_and_database_per_client_and_no_way_into_another(clean_server):
    done = run_init(
        AIRFLOW_DB_PASSWORD="a" * 40, MLFLOW_DB_PASSWORD="m" * 40, CELERY_DB_PASSWORD="c" * 40
    )
    assert done.returncode == 0, done.stderr
    owners = psql(
        "select datname, pg_get_userbyid(datdba) from pg_database"
        " where datname in ('airflow', 'mlflow', 'celery') order by 1"
    ).stdout.split()
    assert owners == ["airflow|airflow", "celery|celery", "mlflow|mlflow"]
    superusers = psql("select rolname from pg_roles where rolsuper").stdout.split()
    assert not set(CLIENTS) & set(superusers)
    for client in CLIENTS:
        assert psql("select current_user", user=client, db=client).stdout.strip() == client
        for other in set(CLIENTS) - {client}:
            refused = psql("select 1", user=client, db=other)
            assert refused.returncode != 0 and "permission denied" in refused.stderr, (
                client,
                other,
            )


def test_a_missing_password_stops_it_before_anything_is_created(clean_server):
    done = run_init(AIRFLOW_DB_PASSWORD="a" * 40, MLFLOW_DB_PASSWORD="m" * 40)
    assert done.returncode != 0
    assert "CELERY_DB_PASSWORD is not set" in done.stderr
    created = psql("select rolname from pg_roles where rolname in ('airflow','mlflow','celery')")
    assert created.stdout.split() == []
