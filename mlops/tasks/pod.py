"""The train step as a Kubernetes pod: the same CLI as everywhere, in the training image.

Built from ``execution:`` in the spec when ``mode: kubernetes``. What the pod gets:

- command ``python -m pipelines train --model M --date D --spec-fingerprint F --output
  /airflow/xcom/return.json``: the date is the run's partition date; the fingerprint
  makes the pod refuse a spec baked into the image that differs from the one Airflow parsed;
- settings as environment, rendered from the same Airflow Variables the workers use
  (``mlops_lake_uri``, ``mlops_mlflow_tracking_uri``, ``mlops_mlflow_artifact_root``,
  ``mlops_s3_endpoint_url``), then the spec's ``execution.env``; credentials only as
  ``secretKeyRef`` to Kubernetes Secrets (``execution.secret_env``), never as values;
- GPU limits, CPU/memory requests, node selector and tolerations; cost-attribution labels;
- a scheduling timeout long enough for a GPU node to scale up, a separate startup timeout,
  and the pod's own deadline so a pod Airflow lost track of still ends.

``python -m airflow tasks render <model>__training train <date>`` shows the rendered values.
Heavy imports (the Kubernetes client) happen only when a spec asks for a pod.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mlops.tasks.training import trains_on_request_only
from pipelines.cli import EXIT_SKIPPED
from pipelines.core.environment import QUIET_ENV
from pipelines.core.spec import ModelSpec

XCOM_RESULT_PATH = "/airflow/xcom/return.json"
# The partition of the run, picked by ``mlops.runtime.partition_day`` (the Param, else the run's
# partition key: a retrain request's day, else the data interval's start) through the
# ``mlops_partition_date`` macro. Not an XCom pull, so ``airflow tasks render`` can show it without
# running upstream tasks.
TRAINING_DATE = "{{ mlops_partition_date(params, partition_key, data_interval_start) }}"

# Deployment settings, rendered at run time (never read at parse time).
SETTINGS_ENV = {
    "MLOPS_LAKE_URI": "{{ var.value.mlops_lake_uri }}",
    "MLFLOW_TRACKING_URI": "{{ var.value.mlops_mlflow_tracking_uri }}",
    "MLOPS_ARTIFACT_ROOT": "{{ var.value.get('mlops_mlflow_artifact_root', '') }}",
    "AWS_ENDPOINT_URL": "{{ var.value.get('mlops_s3_endpoint_url', '') }}",
}
# Who asked, for the registry's lineage tags (read by the CLI like in an Airflow task).
CONTEXT_ENV = {
    "AIRFLOW_CTX_DAG_ID": "{{ dag.dag_id }}",
    "AIRFLOW_CTX_DAG_RUN_ID": "{{ run_id }}",
    "AIRFLOW_CTX_TRY_NUMBER": "{{ ti.try_number }}",
    "AIRFLOW_CTX_DAG_RUN_TYPE": "{{ dag_run.run_type }}",
    # The retrain form (training DAG Params): fields changed for this run, and why.
    "MLOPS_TRAINING_OVERRIDES": "{{ params.overrides | tojson if params.overrides else '' }}",
    "MLOPS_RUN_REASON": "{{ params.reason or '' }}",
}


def pod_arguments(spec: ModelSpec, requested: bool = False) -> list[str]:
    """The CLI arguments of the training pod (the date is a template); ``requested``: a
    retraining DAG's pod (see ``mlops.tasks.training.train_task``)."""
    return [
        "train",
        "--model",
        spec.name,
        "--date",
        TRAINING_DATE,
        "--spec-fingerprint",
        spec.fingerprint(),
        "--output",
        XCOM_RESULT_PATH,
        *(["--requested"] if requested else []),
    ]


def pod_labels(spec: ModelSpec) -> dict[str, str]:
    """Labels for cost attribution and for finding a model's pods; the spec's win."""
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

    base = {
        "app.kubernetes.io/name": "mlops-training",
        "app.kubernetes.io/part-of": "mlops",
        "mlops/model": spec.name,
        "mlops/owner": spec.owner,
        "mlops/step": "train",
    }
    return {
        key: make_safe_label_value(value) for key, value in base.items()
    } | spec.execution.labels


def _resources(spec: ModelSpec) -> Any:
    from kubernetes.client import models as k8s

    resources = spec.execution.resources
    limits = {"memory": resources.memory}
    if resources.gpu:
        limits["nvidia.com/gpu"] = str(resources.gpu)
    return k8s.V1ResourceRequirements(
        requests={"cpu": resources.cpu, "memory": resources.memory}, limits=limits
    )


def _secrets(spec: ModelSpec) -> list[Any]:
    from airflow.providers.cncf.kubernetes.secret import Secret

    return [
        Secret("env", name, ref.secret, ref.key) for name, ref in spec.execution.secret_env.items()
    ]


def _tolerations(spec: ModelSpec) -> list[Any]:
    from kubernetes.client import models as k8s

    return [
        k8s.V1Toleration(key=t.key, operator=t.operator, value=t.value, effect=t.effect)
        for t in spec.execution.effective_tolerations
    ]


def train_pod(spec: ModelSpec, requested: bool = False) -> Any:
    """A KubernetesPodOperator (task id ``train``) that trains ``spec`` in the training image
    (``requested``: in the retraining DAG)."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import models as k8s

    execution = spec.execution
    minutes = execution.schedule_timeout_minutes, execution.startup_timeout_minutes
    schedule_timeout, startup_timeout = (m * 60 for m in minutes)
    run_timeout = execution.run_timeout_minutes * 60
    return KubernetesPodOperator(
        task_id="train",
        doc_md="Trains in a pod of the training image; the same CLI as `execution: local`.",
        name=f"{spec.name.replace('_', '-')}-train",
        namespace=execution.namespace,
        image=execution.image,
        image_pull_policy=execution.image_pull_policy,
        image_pull_secrets=[
            k8s.V1LocalObjectReference(name=s) for s in execution.image_pull_secrets
        ],
        service_account_name=execution.service_account,
        cmds=["python", "-m", "pipelines"],
        arguments=pod_arguments(spec, requested),
        env_vars={**SETTINGS_ENV, **CONTEXT_ENV, **QUIET_ENV, **execution.env},
        secrets=_secrets(spec),
        container_resources=_resources(spec),
        node_selector=dict(execution.node_selector),
        tolerations=_tolerations(spec),
        labels=pod_labels(spec),
        annotations={"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
        # Pending while a GPU node scales up is normal: allow for it, separately from the
        # image pull and container start that follow.
        schedule_timeout_seconds=schedule_timeout,
        startup_timeout_seconds=startup_timeout,
        active_deadline_seconds=startup_timeout + run_timeout,
        execution_timeout=timedelta(seconds=schedule_timeout + startup_timeout + run_timeout),
        pool=execution.pool_name,
        pool_slots=execution.pool_slots,
        retries=execution.retries,
        # A failed pod is kept for `kubectl logs` unless the spec says otherwise; a killed or
        # timed-out task deletes its pod, so no pod keeps a GPU after Airflow gave up on it.
        on_finish_action=execution.on_finish,
        on_kill_action="delete_pod",
        skip_on_exit_code=EXIT_SKIPPED,
        pre_execute=trains_on_request_only(spec),
        do_xcom_push=True,
        get_logs=True,
        log_events_on_failure=True,
        deferrable=execution.deferrable,
    )
