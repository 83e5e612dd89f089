"""GPU training pods without a cluster: the rendered pod, its local twin, and CLI parity.

The pod is rendered the way ``airflow tasks render`` does it (a real DagRun and TaskInstance
in the metadata DB, Variables from the environment) and built with
``build_pod_request_obj(dry_run=True)``. Only the cluster is missing: the parity test runs
the pod's container command in a subprocess with the pod's arguments and environment, reading
``secretKeyRef`` values from a dict that stands in for the Kubernetes Secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient

from pipelines.core.spec import load_spec
from pipelines.core.storage import Lake
from tests.conftest import BUCKET, MODELS, ROOT, replay
from tests.mlops.scheduling import sync_to_db

pytestmark = pytest.mark.integration
EXAMPLE = ROOT / "include" / "examples" / "flight_delay_gpu.yaml"
MODEL = "flight_delay_gpu"
# The Kubernetes Secrets the example spec references, as the cluster would hold them.
CLUSTER_SECRETS = {
    ("mlops-s3", "access-key-id"): "test-key",
    ("mlops-s3", "secret-access-key"): "test-secret",
    ("mlops-mlflow", "token"): "unused-by-a-sqlite-store",
}


def spec_data(**execution: Any) -> dict:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["execution"].update(execution)
    return data


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """A models folder holding the GPU example (and flight_delay, for the hand-written DAG)."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / f"{MODEL}.yaml").write_text(EXAMPLE.read_text())
    (folder / "flight_delay.yaml").write_text((MODELS / "flight_delay.yaml").read_text())
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(folder))
    return folder


@pytest.fixture
def kube_connection(monkeypatch):
    """The ``kubernetes_default`` connection a deployment defines (no cluster is contacted)."""
    connection = {"conn_type": "kubernetes", "extra": {"in_cluster": False}}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(connection))


def training_dag(models_dir: Path, execution: str | None = None, kind: str = "training"):
    from airflow.dag_processing.dagbag import DagBag

    previous = os.environ.pop("MLOPS_EXECUTION", None)
    if execution:
        os.environ["MLOPS_EXECUTION"] = execution
    try:
        bag = DagBag(dag_folder=str(ROOT / "dags" / "model_dags.py"))
    finally:
        os.environ.pop("MLOPS_EXECUTION", None)
        if previous is not None:
            os.environ["MLOPS_EXECUTION"] = previous
    assert bag.import_errors == {}
    return bag, bag.dags[f"{MODEL}__{kind}"]


def rendered_pod(
    bag, dag, logical_date: str, conf: dict | None = None, partition_key: str | None = None
) -> tuple[Any, dict]:
    """The operator after template rendering, and the pod it would create, as a dict.

    Mirrors ``airflow tasks render``: sync the DAG to the metadata DB, create the run's
    TaskInstance in memory, build its template context, render.
    """
    from airflow.cli.commands.task_command import _get_template_context, _get_ti
    from airflow.serialization.serialized_objects import DagSerialization
    from kubernetes.client import ApiClient

    sync_to_db(bag)
    scheduler_dag = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    ti, _ = _get_ti(
        scheduler_dag.get_task("train"),
        -1,
        logical_date_or_run_id=logical_date,
        create_if_necessary="memory",
    )
    if conf:
        ti.dag_run.conf = conf
    task = dag.get_task("train")
    context = _get_template_context(ti, task)
    if partition_key is not None:
        context["partition_key"] = partition_key
    task.render_template_fields(context)
    operator = context["task"]
    pod = operator.build_pod_request_obj(context, dry_run=True)
    return operator, ApiClient().sanitize_for_serialization(pod)


@pytest.fixture
def pod_settings(monkeypatch, s3_endpoint, tmp_path):
    """The Variables a deployment sets for pods: an S3 lake, an MLflow store, the endpoint."""
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    values = {
        "MLOPS_LAKE_URI": f"s3://{BUCKET}/pods-{tmp_path.name}",
        "MLOPS_MLFLOW_TRACKING_URI": tracking,
        "MLOPS_MLFLOW_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "MLOPS_S3_ENDPOINT_URL": s3_endpoint,
    }
    for key, value in values.items():
        monkeypatch.setenv(f"AIRFLOW_VAR_{key}", value)
    return values


def container(pod: dict) -> dict:
    (base,) = [c for c in pod["spec"]["containers"] if c["name"] == "base"]
    return base


def test_gpu_spec_renders_the_pod_a_cluster_would_get(
    airflow_db, models_dir, kube_connection, pod_settings
):
    bag, dag = training_dag(models_dir)
    assert [t.task_id for t in dag.topological_sort()][-2:] == ["train", "train_result"]
    operator, pod = rendered_pod(bag, dag, "2013-01-10T07:00:00+00:00")
    spec = load_spec(models_dir / f"{MODEL}.yaml")
    base = container(pod)

    assert base["image"] == "registry.example.com/mlops/training:0.1.0"
    assert base["command"] == ["python", "-m", "pipelines"]
    # The run of Jan 10, 07:00 UTC covers the New York day of Jan 9.
    assert base["args"] == [
        "train",
        "--model",
        MODEL,
        "--date",
        "2013-01-09",
        "--spec-fingerprint",
        spec.fingerprint(),
        "--output",
        "/airflow/xcom/return.json",
    ]
    assert base["resources"] == {
        "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
        "requests": {"cpu": "4", "memory": "16Gi"},
    }
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["spec"]["tolerations"] == [
        {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}
    ]
    assert pod["spec"]["serviceAccountName"] == "mlops-training"
    assert pod["metadata"]["namespace"] == "mlops"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["activeDeadlineSeconds"] == (10 + 240) * 60

    plain = {e["name"]: e["value"] for e in base["env"] if "value" in e}
    assert plain["MLOPS_LAKE_URI"] == pod_settings["MLOPS_LAKE_URI"]
    assert plain["MLFLOW_TRACKING_URI"] == pod_settings["MLOPS_MLFLOW_TRACKING_URI"]
    assert plain["AWS_ENDPOINT_URL"] == pod_settings["MLOPS_S3_ENDPOINT_URL"]
    assert plain["AIRFLOW_CTX_DAG_ID"] == f"{MODEL}__training"
    assert plain["AIRFLOW_CTX_DAG_RUN_TYPE"] in ("manual", "DagRunType.MANUAL")
    assert (plain["MLOPS_TRAINING_OVERRIDES"], plain["MLOPS_RUN_REASON"]) == ("", "")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in base["env"] if "valueFrom" in e}
    assert refs == {
        "AWS_ACCESS_KEY_ID": {"name": "mlops-s3", "key": "access-key-id"},
        "AWS_SECRET_ACCESS_KEY": {"name": "mlops-s3", "key": "secret-access-key"},
        "MLFLOW_TRACKING_TOKEN": {"name": "mlops-mlflow", "key": "token"},
    }
    assert not set(refs) & set(plain), "a credential has a plain value in the pod"
    assert not set(CLUSTER_SECRETS.values()) & set(plain.values())

    labels = pod["metadata"]["labels"]
    assert {k: labels[k] for k in ("mlops/model", "mlops/owner", "team", "cost-center")} == {
        "mlops/model": MODEL,
        "mlops/owner": "ml-platform",
        "team": "ml-platform",
        "cost-center": "cc-4711",
    }
    assert labels["dag_id"] == f"{MODEL}__training" and labels["task_id"] == "train"
    sidecars = [c["name"] for c in pod["spec"]["containers"] if c["name"] != "base"]
    assert sidecars == ["airflow-xcom-sidecar"]  # do_xcom_push: the JSON result comes back

    assert (operator.pool, operator.pool_slots) == ("gpu", 1)
    assert operator.schedule_timeout_seconds == 30 * 60
    assert operator.startup_timeout_seconds == 10 * 60
    assert operator.execution_timeout.total_seconds() == (30 + 10 + 240) * 60
    assert operator.retries == 1 and operator.retry_exponential_backoff
    assert operator.on_finish_action.value == "delete_succeeded_pod"
    assert operator.on_kill_action.value == "delete_pod"
    assert list(operator.skip_on_exit_code) == [99]
    assert operator.do_xcom_push is True


def test_the_trigger_form_date_reaches_the_pod(
    airflow_db, models_dir, kube_connection, pod_settings
):
    bag, dag = training_dag(models_dir)
    overrides = {"params": {"num_leaves": 15}, "window_days": 7}
    conf = {"partition_date": "2013-03-05", "overrides": overrides, "reason": "smaller trees"}
    _, pod = rendered_pod(bag, dag, "2013-06-01T07:00:00+00:00", conf=conf)
    args = container(pod)["args"]
    assert args[args.index("--date") + 1] == "2013-03-05"
    env = {e["name"]: e.get("value") for e in container(pod)["env"]}
    assert json.loads(env["MLOPS_TRAINING_OVERRIDES"]) == overrides
    assert env["MLOPS_RUN_REASON"] == "smaller trees"


def test_a_retrain_request_date_reaches_the_pod(
    airflow_db, models_dir, kube_connection, pod_settings
):
    """A retraining run is for one partition: the requested day, not its data interval."""
    bag, dag = training_dag(models_dir, kind="retraining")
    assert [t.task_id for t in dag.topological_sort()] == ["request", "train", "train_result"]
    _, pod = rendered_pod(bag, dag, "2013-06-01T07:00:00+00:00", partition_key="2013-04-03")
    args = container(pod)["args"]
    assert args[args.index("--date") + 1] == "2013-04-03"
    assert "--requested" in args  # never judged as a backfill, however late it runs
    _, nightly = training_dag(models_dir)
    assert "--requested" not in nightly.get_task("train").arguments


def test_a_cpu_pod_asks_for_no_gpu_and_uses_the_default_pool(
    airflow_db, models_dir, kube_connection, pod_settings
):
    data = spec_data(resources={"cpu": "2", "memory": "8Gi", "gpu": 0}, pool=None)
    del data["execution"]["tolerations"]
    (models_dir / f"{MODEL}.yaml").write_text(yaml.safe_dump(data))
    bag, dag = training_dag(models_dir)
    operator, pod = rendered_pod(bag, dag, "2013-01-10T07:00:00+00:00")
    assert container(pod)["resources"] == {
        "limits": {"memory": "8Gi"},
        "requests": {"cpu": "2", "memory": "8Gi"},
    }
    assert pod["spec"].get("tolerations") in (None, [])
    assert (operator.pool, operator.pool_slots) == ("default_pool", 1)


@pytest.mark.parametrize("how", ["spec", "environment"])
def test_local_execution_gives_the_local_task(airflow_db, models_dir, how):
    if how == "spec":
        (models_dir / f"{MODEL}.yaml").write_text(yaml.safe_dump(spec_data(mode="local")))
    _, dag = training_dag(models_dir, execution="local" if how == "environment" else None)
    local_shape = ["ingest", "validate", "features", "train"]
    assert [t.task_id for t in dag.topological_sort()] == local_shape
    train = dag.get_task("train")
    assert train.task_type == "_PythonDecoratedOperator"
    assert {a.name for a in train.outlets} == {f"model.{MODEL}"}


def test_an_unknown_execution_override_is_an_import_error(airflow_db, models_dir):
    from airflow.dag_processing.dagbag import DagBag

    os.environ["MLOPS_EXECUTION"] = "docker"
    try:
        bag = DagBag(dag_folder=str(ROOT / "dags" / "model_dags.py"))
    finally:
        del os.environ["MLOPS_EXECUTION"]
    assert "MLOPS_EXECUTION='docker'" in next(iter(bag.import_errors.values()))


@pytest.mark.slow
def test_the_local_twin_passes_dag_test(airflow_db, models_dir, monkeypatch, tmp_path):
    """What users run before deploying: ``MLOPS_EXECUTION=local airflow dags test ...``."""
    lake = Lake(str(tmp_path / "lake"))
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_LAKE_URI", lake.root)
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI", tracking)
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    replay(lake, load_spec(models_dir / f"{MODEL}.yaml"), [date(2013, 1, 1)])

    _, dag = training_dag(models_dir, execution="local")
    run = dag.test(run_conf={"partition_date": "2013-01-02"})
    assert str(run.state) == "success"
    assert {ti.task_id: str(ti.state) for ti in run.get_task_instances()} == dict.fromkeys(
        ["ingest", "validate", "features", "train"], "success"
    )
    result = run.get_task_instance("train").xcom_pull(task_ids="train")
    client = MlflowClient(tracking)
    (version,) = client.search_model_versions(f"name='{MODEL}'")
    assert (result["status"], result["version"]) == ("done", str(version.version))
    params = client.get_run(version.run_id).data.params
    assert (params["algorithm"], params["torch.device"]) == ("torch_mlp", "cpu")


def run_pod_command(pod: dict, output: Path, models_dir: Path) -> subprocess.CompletedProcess:
    """The pod's container command with its arguments and environment, here.

    Two substitutions only: the result path (``/airflow/xcom`` is the sidecar's volume) and
    ``MLOPS_MODELS_DIR`` (the image's ENV points at the specs baked into it).
    """
    base = container(pod)
    args = [str(output) if a == "/airflow/xcom/return.json" else a for a in base["args"]]
    env = {"PATH": os.environ["PATH"], "MLOPS_MODELS_DIR": str(models_dir)}
    for variable in base["env"]:
        if "valueFrom" in variable:
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = CLUSTER_SECRETS[(ref["name"], ref["key"])]
        else:
            env[variable["name"]] = variable["value"]
    command = [sys.executable if c == "python" else c for c in base["command"]]
    return subprocess.run(
        [*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_parity_the_pod_command_trains_and_returns_the_json_downstream_reads(
    airflow_db, models_dir, kube_connection, pod_settings, s3_endpoint, tmp_path
):
    from airflow.sdk.execution_time.context import OutletEventAccessors

    from mlops.assets import model_asset
    from mlops.tasks.training import TRAINING_FACTS, publish_training

    spec = load_spec(models_dir / f"{MODEL}.yaml")
    options = {
        "key": "test-key",
        "secret": "test-secret",
        "client_kwargs": {"endpoint_url": s3_endpoint},
    }
    lake = Lake(pod_settings["MLOPS_LAKE_URI"], options)
    replay(lake, spec, [date(2013, 1, 1), date(2013, 1, 2)])

    bag, dag = training_dag(models_dir)
    _, pod = rendered_pod(bag, dag, "2013-01-03T07:00:00+00:00")  # trains Jan 2
    output = tmp_path / "xcom" / "return.json"
    done = run_pod_command(pod, output, models_dir)
    assert done.returncode == 0, done.stderr
    returned = json.loads(output.read_text())
    assert returned == json.loads(done.stdout)
    assert len(output.read_bytes()) < 2048  # small JSON: the XCom sidecar, not a data path

    client = MlflowClient(pod_settings["MLOPS_MLFLOW_TRACKING_URI"])
    (version,) = client.search_model_versions(f"name='{MODEL}'")
    assert (returned["status"], returned["version"]) == ("done", str(version.version))
    assert version.tags["mlops.airflow.dag_id"] == f"{MODEL}__training"
    assert version.tags["mlops.logical_date"] == "2013-01-02"
    assert version.tags["mlops.spec_hash"] == spec.fingerprint()

    # What train_result does with the pod's XCom: the same facts as the local task.
    asset = model_asset(spec)
    events = OutletEventAccessors()
    published = publish_training({"outlet_events": events}, asset, spec, returned)
    assert events[asset].extra == {k: returned[k] for k in TRAINING_FACTS}
    assert published == returned

    # A retried pod (same arguments) reuses the version instead of registering another.
    again = run_pod_command(pod, output, models_dir)
    assert again.returncode == 0, again.stderr
    assert json.loads(output.read_text())["reused"] is True
    assert len(client.search_model_versions(f"name='{MODEL}'")) == 1


@pytest.mark.slow
def test_a_pod_with_a_stale_spec_or_no_data_changes_nothing(
    airflow_db, models_dir, kube_connection, pod_settings, tmp_path
):
    from mlops.tasks.pod import train_pod

    bag, dag = training_dag(models_dir)
    _, pod = rendered_pod(bag, dag, "2014-06-02T07:00:00+00:00")  # no flights in 2014
    output = tmp_path / "return.json"
    skipped = run_pod_command(pod, output, models_dir)
    operator = train_pod(load_spec(models_dir / f"{MODEL}.yaml"))
    assert skipped.returncode in operator.skip_on_exit_code
    assert json.loads(output.read_text())["status"] == "skipped"

    # The image's spec differs from the one Airflow parsed: refuse, register nothing.
    edited = spec_data()
    edited["training"]["window_days"] = 14
    (models_dir / f"{MODEL}.yaml").write_text(yaml.safe_dump(edited))
    refused = run_pod_command(pod, output, models_dir)
    assert refused.returncode == 2
    assert "differs from the one Airflow scheduled" in refused.stderr
    client = MlflowClient(pod_settings["MLOPS_MLFLOW_TRACKING_URI"])
    assert client.search_registered_models() == []
