"""Where training runs: the Airflow worker, or a Kubernetes pod of the training image."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pipelines.core.spec.base import K8S_NAME_PATTERN, Strict


class ResourcesSpec(Strict):
    """Requests of the training pod (Kubernetes quantities); memory is also its limit."""

    cpu: Annotated[str, Field(pattern=r"^\d+(\.\d+)?m?$")] = "1"
    memory: Annotated[str, Field(pattern=r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")] = "4Gi"
    gpu: Annotated[int, Field(ge=0, le=16)] = 0


class Toleration(Strict):
    """A Kubernetes toleration, e.g. for the taint GPU node pools carry."""

    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    @model_validator(mode="after")
    def _value_only_with_equal(self) -> Toleration:
        if (self.operator == "Equal") != (self.value is not None):
            raise ValueError("a toleration has a value with operator 'Equal', and only then")
        return self


class SecretRef(Strict):
    """One key of a Kubernetes Secret, exposed to the pod as an environment variable."""

    secret: Annotated[str, Field(pattern=K8S_NAME_PATTERN)]
    key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$")]


# Environment names that carry credentials: allowed only as Secret references.
CREDENTIAL_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_LABEL_NAME = r"[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?"
LabelKey = Annotated[
    str, Field(pattern=rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}$")
]
LabelValue = Annotated[str, Field(pattern=rf"^({_LABEL_NAME})?$")]


class ExecutionSpec(Strict):
    """Where training runs: in the Airflow worker, or in a pod of the training image.

    Only the train step moves to the pod; ingest, validate and features are I/O-bound and
    stay in the worker. Timeouts: ``schedule_timeout_minutes`` covers a pod pending while a
    GPU node scales up, ``startup_timeout_minutes`` the image pull and container start once
    scheduled, ``run_timeout_minutes`` the training itself (the pod's hard deadline is the
    startup plus the run timeout).
    """

    mode: Literal["local", "kubernetes"] = "local"
    image: str | None = None
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    image_pull_secrets: list[Annotated[str, Field(pattern=K8S_NAME_PATTERN)]] = Field(
        default_factory=list
    )
    namespace: Annotated[str, Field(pattern=K8S_NAME_PATTERN)] = "mlops"
    service_account: Annotated[str, Field(pattern=K8S_NAME_PATTERN)] | None = None
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] | None = None
    env: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)], str] = Field(default_factory=dict)
    secret_env: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)], SecretRef] = Field(
        default_factory=dict
    )
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    pool: str | None = None
    schedule_timeout_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    startup_timeout_minutes: Annotated[int, Field(ge=1, le=120)] = 10
    run_timeout_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 360
    retries: Annotated[int, Field(ge=0, le=10)] = 1
    on_finish: Literal["delete_pod", "delete_succeeded_pod", "keep_pod"] = "delete_succeeded_pod"
    deferrable: bool = False  # free the worker slot while training; the triggerer needs the cluster

    @model_validator(mode="after")
    def _image_for_kubernetes(self) -> ExecutionSpec:
        if self.mode == "kubernetes" and not self.image:
            raise ValueError("execution.mode 'kubernetes' needs execution.image")
        return self

    @field_validator("env")
    @classmethod
    def _no_plain_credentials(cls, env: dict[str, str]) -> dict[str, str]:
        leaked = sorted(name for name in env if CREDENTIAL_NAME.search(name))
        if leaked:
            raise ValueError(
                f"{', '.join(leaked)} look like credentials: never put them in the spec; "
                "reference a Kubernetes Secret under execution.secret_env instead"
            )
        return env

    @property
    def pool_name(self) -> str:
        """The Airflow pool that caps concurrent pods: ``gpu`` for GPU pods by default."""
        return self.pool or ("gpu" if self.resources.gpu else "default_pool")

    @property
    def pool_slots(self) -> int:
        """One slot per GPU, so the pool's size is the number of GPUs the team may hold."""
        return max(1, self.resources.gpu)

    @property
    def effective_tolerations(self) -> list[Toleration]:
        """The spec's tolerations; GPU pods tolerate the usual ``nvidia.com/gpu`` taint."""
        if self.tolerations is not None:
            return self.tolerations
        gpu_taint = Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
        return [gpu_taint] if self.resources.gpu else []
