"""The docker-compose topology on one machine, without containers (`make stack-up`).

Airflow 3 with the CeleryExecutor on PostgreSQL (Redis as broker, two workers), the
api-server, scheduler, dag-processor and triggerer as separate processes; an MLflow server on
PostgreSQL with its artifacts on S3; the lake on S3. The S3 endpoint is moto in server mode
on loopback (in memory: its data lives as long as the stack). Everything else is the
machine's own PostgreSQL and Redis, in databases of its own (``<prefix>_airflow``,
``<prefix>_mlflow``) and one Redis DB.

    python scripts/stack.py up | down | status | clean
    python scripts/stack.py start | stop | kill COMPONENT   (what the fault tests do)

Settings (environment): MLOPS_STATE_DIR (default .state/stack), MLOPS_AIRFLOW_PORT (8090),
MLOPS_MLFLOW_PORT (5010), MLOPS_S3_PORT (5020), MLOPS_STACK_PG (postgresql://postgres@
127.0.0.1:5432), MLOPS_STACK_DB (database prefix, mlops_stack), MLOPS_STACK_REDIS
(redis://127.0.0.1:6379/5), MLOPS_STACK_S3_URL (the endpoint clients use; default the moto
server), MLOPS_MODELS_DIR, MLOPS_STACK_ADMIN_PASSWORD (default: random, kept in the state
folder). Each process writes ``<state>/logs/<component>.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LAKE_BUCKET, ARTIFACT_BUCKET = "mlops-lake", "mlflow-artifacts"
S3_KEY, S3_SECRET = "stack-key", "stack-secret"
WORKERS = ("worker1", "worker2")
AIRFLOW = ("apiserver", "scheduler", "dag-processor", "triggerer", *WORKERS)
COMPONENTS = ("s3", "mlflow", *AIRFLOW)


def _env(name: str, default: str) -> Callable[[], str]:
    """A dataclass default read from the environment when the config is made."""
    return lambda: os.environ.get(name) or default


@dataclass
class StackConfig:
    """Where the stack lives and what it talks to; from the environment by default."""

    state: Path = field(
        default_factory=lambda: Path(_env("MLOPS_STATE_DIR", str(ROOT / ".state" / "stack"))())
    )
    airflow_port: int = field(default_factory=lambda: int(_env("MLOPS_AIRFLOW_PORT", "8090")()))
    mlflow_port: int = field(default_factory=lambda: int(_env("MLOPS_MLFLOW_PORT", "5010")()))
    s3_port: int = field(default_factory=lambda: int(_env("MLOPS_S3_PORT", "5020")()))
    postgres: str = field(
        default_factory=_env("MLOPS_STACK_PG", "postgresql://postgres@127.0.0.1:5432")
    )
    db_prefix: str = field(default_factory=_env("MLOPS_STACK_DB", "mlops_stack"))
    redis: str = field(default_factory=_env("MLOPS_STACK_REDIS", "redis://127.0.0.1:6379/5"))
    s3_url: str = field(default_factory=_env("MLOPS_STACK_S3_URL", ""))
    models_dir: str = field(default_factory=_env("MLOPS_MODELS_DIR", ""))
    admin_password: str = field(default_factory=_env("MLOPS_STACK_ADMIN_PASSWORD", ""))
    worker_concurrency: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def s3_endpoint(self) -> str:
        """What every client uses to reach S3 (the tests put a fault proxy here)."""
        return self.s3_url or f"http://127.0.0.1:{self.s3_port}"

    def database(self, kind: str) -> str:
        return f"{self.postgres.replace('postgresql://', 'postgresql+psycopg2://')}/{self.db_name(kind)}"

    def db_name(self, kind: str) -> str:
        return f"{self.db_prefix}_{kind}"


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class Stack:
    """Start, stop and kill the stack's processes, each in a process group of its own."""

    airflow_components: tuple[str, ...] = AIRFLOW  # what wait_healthy expects to be running

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.state = self.config.state
        self.logs = self.state / "logs"
        self.pids = self.state / "pids"
        self.env = self._environment()

    # ----------------------------------------------------------------- settings
    def _demo_environment(self) -> dict[str, str]:
        """scripts/env.sh (what `make demo` uses) for this state folder and these ports."""
        c = self.config
        return shell_env(
            {
                "MLOPS_STATE_DIR": str(self.state),
                "MLOPS_AIRFLOW_PORT": str(c.airflow_port),
                "MLOPS_MLFLOW_PORT": str(c.mlflow_port),
            }
        )

    def _environment(self) -> dict[str, str]:
        """scripts/env.sh with the production topology on top."""
        c = self.config
        env = self._demo_environment()
        airflow_db = c.database("airflow")
        connection = {
            "conn_type": "aws",
            "login": S3_KEY,
            "password": S3_SECRET,
            "extra": {"endpoint_url": c.s3_endpoint, "region_name": "us-east-1"},
        }
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
                "AIRFLOW__CELERY__BROKER_URL": c.redis,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + airflow_db,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(c.worker_concurrency),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": (
                    f"http://127.0.0.1:{c.airflow_port}/execution/"
                ),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
                "AIRFLOW__CORE__FERNET_KEY": self._secret("fernet_key", _fernet_key),
                # A worker that vanishes is noticed within a minute, not the default five.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW_VAR_MLOPS_LAKE_URI": f"s3://{LAKE_BUCKET}/lake",
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
                "MLOPS_EXECUTION": "local",
            }
        )
        if c.models_dir:
            env["MLOPS_MODELS_DIR"] = c.models_dir
        env.update(c.extra_env)
        return env

    def _secret(self, name: str, make: Callable[[], str] = lambda: secrets.token_hex(32)) -> str:
        """A random secret kept in the state folder (never in the repository)."""
        path = self.state / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(make())
            path.chmod(0o600)
        return path.read_text()

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.config.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.config.mlflow_port}"

    def command(self, name: str) -> tuple[list[str], dict[str, str]]:
        """The command line and environment of one component."""
        c = self.config
        if name == "s3":
            return [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(c.s3_port)], self.env
        if name == "mlflow":
            host = f"127.0.0.1:{c.mlflow_port}"
            env = {
                **self.env,
                "AWS_ACCESS_KEY_ID": S3_KEY,
                "AWS_SECRET_ACCESS_KEY": S3_SECRET,
                "MLFLOW_S3_ENDPOINT_URL": c.s3_endpoint,
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # GenAI jobs: unused here
            }
            return [
                str(BIN / "mlflow"), "server", "--host", "127.0.0.1",
                "--port", str(c.mlflow_port), "--workers", "1",
                "--allowed-hosts", f"{host},localhost:{c.mlflow_port}",
                "--backend-store-uri", c.database("mlflow"),
                "--artifacts-destination", f"s3://{ARTIFACT_BUCKET}",
            ], env  # fmt: skip
        airflow = str(BIN / "airflow")
        if name in WORKERS:
            return [
                airflow, "celery", "worker", "--celery-hostname", f"{name}@%h",
                "--concurrency", str(c.worker_concurrency), "--skip-serve-logs",
                "--without-gossip", "--without-mingle",
            ], self.env  # fmt: skip
        if name == "apiserver":
            return [airflow, "api-server", "--port", str(c.airflow_port)], self.env
        if name in AIRFLOW:
            return [airflow, name], self.env
        raise SystemExit(f"unknown component {name!r}; one of {', '.join(COMPONENTS)}")

    # ---------------------------------------------------------------- processes
    def pid(self, name: str) -> int | None:
        """The component's live pid; a pid file whose process is gone (or whose pid now
        belongs to another process: the start time differs) counts as stopped."""
        path = self.pids / f"{name}.pid"
        if not path.exists():
            return None
        pid, started = path.read_text().split()
        try:
            proc = psutil.Process(int(pid))
            alive = proc.status() != psutil.STATUS_ZOMBIE and f"{proc.create_time()}" == started
        except psutil.NoSuchProcess:
            return None
        return proc.pid if alive else None

    def start(self, name: str) -> int:
        """Start one component in its own process group (idempotent)."""
        running = self.pid(name)
        if running:
            return running
        cmd, env = self.command(name)
        for folder in (self.logs, self.pids):
            folder.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("a") as log:
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = psutil.Process(proc.pid).create_time()
        (self.pids / f"{name}.pid").write_text(f"{proc.pid} {started}")
        return proc.pid

    def stop(self, *names: str, timeout: float = 30) -> None:
        """SIGTERM the components (all at once); SIGKILL what is left after ``timeout``."""
        running = {name: pid for name in names if (pid := self.pid(name)) is not None}
        for pid in running.values():
            self._signal_tree(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for pid in running.values():
            if not _wait_gone(pid, max(0.0, deadline - time.monotonic())):
                self._signal_tree(pid, signal.SIGKILL)
                _wait_gone(pid, 10)
        for name in names:
            (self.pids / f"{name}.pid").unlink(missing_ok=True)

    def kill(self, name: str) -> None:
        """SIGKILL the component and everything it started, at once (a machine lost)."""
        pid = self.pid(name)
        if pid is not None:
            self._signal_tree(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
        (self.pids / f"{name}.pid").unlink(missing_ok=True)

    @staticmethod
    def _signal_tree(pid: int, sig: signal.Signals) -> None:
        try:
            family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for proc in family:
            with suppress(psutil.NoSuchProcess):
                proc.send_signal(sig)
        with suppress(ProcessLookupError):
            os.killpg(pid, sig)

    def run(self, *cmd: str, timeout: float = 300) -> str:
        done = subprocess.run(
            cmd, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    # ------------------------------------------------------------------ lifecycle
    def up(self) -> None:
        """Databases, buckets, migrations, then every component; returns when healthy."""
        self.create_databases()
        self._write_password_file()
        self.start("s3")
        wait_http(f"http://127.0.0.1:{self.config.s3_port}/moto-api/", 60, self.logs / "s3.log")
        self.create_buckets()
        self.start("mlflow")
        self.run(str(BIN / "airflow"), "db", "migrate", timeout=600)
        self.run(str(BIN / "airflow"), "pools", "set", "gpu", "1", "GPU training pods")
        for name in AIRFLOW:
            self.start(name)
        wait_http(f"{self.mlflow_url}/health", 120, self.logs / "mlflow.log")
        self.wait_healthy(180)

    def down(self) -> None:
        """Airflow first (workers finish or give back their tasks), then MLflow and S3."""
        self.stop(*AIRFLOW)
        self.stop("mlflow", "s3")

    def clean(self) -> None:
        """Stop everything and drop the stack's databases and Redis DB (its data)."""
        self.down()
        import redis

        with closing(_admin_connection(self.config.postgres)) as conn, conn.cursor() as cur:
            for kind in ("airflow", "mlflow"):
                cur.execute(f'DROP DATABASE IF EXISTS "{self.config.db_name(kind)}" WITH (FORCE)')
        redis.Redis.from_url(self.config.redis).flushdb()

    def create_databases(self) -> None:
        with closing(_admin_connection(self.config.postgres)) as conn, conn.cursor() as cur:
            for kind in ("airflow", "mlflow"):
                name = self.config.db_name(kind)
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')

    def create_buckets(self) -> None:
        client = s3_client(f"http://127.0.0.1:{self.config.s3_port}")
        for bucket in (LAKE_BUCKET, ARTIFACT_BUCKET):
            client.create_bucket(Bucket=bucket)

    def _write_password_file(self) -> None:
        """SimpleAuthManager's users: admin with a random password unless one is set."""
        path = Path(self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
        path.parent.mkdir(parents=True, exist_ok=True)
        wanted = self.config.admin_password
        if wanted or not path.exists():
            path.write_text(json.dumps({"admin": wanted or secrets.token_urlsafe(12)}))
            path.chmod(0o600)

    @property
    def admin_password(self) -> str:
        path = Path(self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
        return str(json.loads(path.read_text())["admin"])

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.airflow_url}/api/v2/monitor/health", timeout=5) as r:  # noqa: S310
            return dict(json.load(r))

    def wait_healthy(self, timeout: float) -> None:
        """Until the API answers and the scheduler, dag-processor and triggerer heartbeat."""
        deadline = time.monotonic() + timeout
        seen: dict = {}
        while time.monotonic() < deadline:
            try:
                seen = self.health()
                parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
                if all((seen.get(p) or {}).get("status") == "healthy" for p in parts):
                    return
            except OSError:
                pass
            for name in self.airflow_components:
                if self.pid(name) is None:
                    raise RuntimeError(f"{name} exited; see {self.logs / (name + '.log')}")
            time.sleep(1)
        raise TimeoutError(f"Airflow not healthy after {timeout:.0f} s: {seen}")

    def status(self) -> dict[str, int | None]:
        return {name: self.pid(name) for name in COMPONENTS}


def shell_env(overrides: dict[str, str]) -> dict[str, str]:
    """scripts/env.sh's environment with these settings: the caller's AIRFLOW*/MLOPS_* are
    left out (but the models folder), so nothing of another Airflow home leaks in."""
    keep = {"MLOPS_MODELS_DIR"}
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLOPS_")) or k in keep
    }
    dumped = subprocess.run(
        ["bash", "-c", f"source {ROOT / 'scripts' / 'env.sh'} && env -0"],  # noqa: S607
        env={**clean, **overrides},
        capture_output=True,
        check=True,
    ).stdout.decode()
    return dict(line.split("=", 1) for line in dumped.split("\0") if "=" in line)


def s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    )


def _admin_connection(postgres: str):
    import psycopg2

    conn = psycopg2.connect(f"{postgres}/postgres")
    conn.autocommit = True
    return conn


def _wait_gone(pid: int, timeout: float) -> bool:
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


def wait_http(url: str, timeout: float, log: Path | None = None) -> None:
    """Until ``url`` answers (any HTTP status counts as up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout:.0f} s" + (f"; see {log}" if log else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    actions = ["up", "down", "status", "clean", "start", "stop", "kill"]
    parser.add_argument("action", choices=actions)
    parser.add_argument("component", nargs="?", choices=COMPONENTS)
    args = parser.parse_args(argv)
    stack = Stack()
    if args.action in ("start", "stop", "kill"):
        if not args.component:
            parser.error(f"{args.action} needs a component")
        getattr(stack, args.action)(args.component)
        return 0
    if args.action == "up":
        stack.up()
        print(f"Airflow  {stack.airflow_url}  (admin / {stack.admin_password})")
        print(f"MLflow   {stack.mlflow_url}")
        print(f"S3       {stack.config.s3_endpoint}  buckets {LAKE_BUCKET}, {ARTIFACT_BUCKET}")
        print(f"logs     {stack.logs}")
    elif args.action == "down":
        stack.down()
    elif args.action == "clean":
        stack.clean()
    for name, pid in stack.status().items():
        print(f"{name:14} {'running, pid ' + str(pid) if pid else 'stopped'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
