"""Where things live, resolved in the Airflow layer and passed down to pipelines/ as values.

- Model specs: ``$MLOPS_MODELS_DIR`` or ``include/models`` beside ``dags/``.
- Lake root: Airflow Variable ``mlops_lake_uri`` (env ``AIRFLOW_VAR_MLOPS_LAKE_URI``), a local
  folder by default or ``s3://bucket/prefix``; S3 credentials and endpoint come from the
  Airflow connection ``aws_default`` (Amazon provider).
- Schedule end: ``$MLOPS_SCHEDULE_END`` (a date) ends every model's nightly schedule there,
  for replays of history (``make demo``); else the spec's ``schedules.end_date``.
- Execution: ``$MLOPS_EXECUTION=local`` runs every model's training in the worker, whatever
  its spec says (laptops, CI, ``airflow dags test``: the pod's local twin).
- MLflow: Variable ``mlops_mlflow_tracking_uri``, else ``$MLFLOW_TRACKING_URI``; artifacts of new
  experiments under Variable ``mlops_mlflow_artifact_root`` when the store has no default; the
  UI people open at Variable ``mlops_mlflow_ui_url`` (default: the tracking server).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.core.spec import ModelSpec
    from pipelines.core.storage import Lake

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = PROJECT_ROOT / ".state"
AWS_CONN_ID = "aws_default"


def models_dir() -> Path:
    return Path(os.environ.get("MLOPS_MODELS_DIR", PROJECT_ROOT / "include" / "models"))


def schedule_end(spec: ModelSpec) -> date | None:
    """The last night the nightly schedule runs: the spec's ``schedules.end_date``, or
    ``$MLOPS_SCHEDULE_END`` (YYYY-MM-DD) when earlier. A replay of history sets the variable so
    that unpausing a DAG never starts a run for today's date."""
    forced = os.environ.get("MLOPS_SCHEDULE_END", "")
    ends = [spec.schedules.end_date, date.fromisoformat(forced) if forced else None]
    return min((end for end in ends if end is not None), default=None)


def execution_mode(spec: ModelSpec) -> str:
    """``local`` or ``kubernetes``: the spec's choice unless ``$MLOPS_EXECUTION`` forces local."""
    forced = os.environ.get("MLOPS_EXECUTION", "")
    if forced not in ("", "local"):
        raise ValueError(f"MLOPS_EXECUTION={forced!r}: only 'local' (or unset) is allowed")
    return forced or spec.execution.mode


def _variable(key: str, default: str | None) -> str | None:
    from airflow.sdk import Variable

    return Variable.get(key, default=default)


def lake_uri() -> str:
    return _variable("mlops_lake_uri", str(STATE_DIR / "lake")) or str(STATE_DIR / "lake")


def tracking_uri() -> str:
    fallback = os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{STATE_DIR / 'mlflow.db'}")
    return _variable("mlops_mlflow_tracking_uri", fallback) or fallback


def mlflow_ui_url() -> str:
    """Where people open MLflow: Variable ``mlops_mlflow_ui_url``, else the tracking URI when
    it is a server ('' for a file or database store)."""
    tracking = tracking_uri()
    default = tracking if tracking.startswith(("http://", "https://")) else ""
    return (_variable("mlops_mlflow_ui_url", default) or default).rstrip("/")


def artifact_root() -> str | None:
    return _variable("mlops_mlflow_artifact_root", None)


def s3_storage_options(conn_id: str = AWS_CONN_ID) -> dict[str, Any]:
    """fsspec/s3fs options from an Airflow AWS connection (keys, token, endpoint, region)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=conn_id, client_type="s3")
    credentials = hook.get_credentials()
    client_kwargs = {
        "endpoint_url": hook.conn_config.get_service_endpoint_url("s3"),
        "region_name": hook.conn_config.region_name,
    }
    return {
        "key": credentials.access_key,
        "secret": credentials.secret_key,
        "token": credentials.token,
        "client_kwargs": {k: v for k, v in client_kwargs.items() if v},
    }


def open_lake(uri: str | None = None) -> Lake:
    """The lake for this deployment, with S3 credentials when the root is ``s3://``."""
    from pipelines.core.storage import Lake  # pandas, pyarrow: when a task opens the lake

    root = uri or lake_uri()
    options = s3_storage_options() if root.startswith("s3://") else {}
    return Lake(root, options)
