"""The MLflow tracking server and model registry behind one typed object, built once per step.

``Registry(tracking_uri)`` wraps an ``MlflowClient`` and points MLflow's fluent API (runs,
``log_model``, ``load_model``, artifact downloads) at the same store, so a step talks to one
server whichever API it uses. It speaks the registry's vocabulary (aliases, version tags,
experiments) and maps "not there" to ``None``; decisions about what to write live in the
stages (training registers, serving moves aliases, monitoring logs runs). MLflow is imported
when a Registry is built, never when this module is: DAG files may import it at parse time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.core.errors import TrackingUnavailableError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.pyfunc import PyFuncModel

# MLflow's error codes for a model, version or alias that does not exist.
_ABSENT = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}
_UNREACHABLE = ("Connection", "Max retries", "refused", "timed out")


class Registry:
    """One MLflow store: its registry (versions, aliases, tags) and its experiments."""

    def __init__(self, tracking_uri: str) -> None:
        import mlflow
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        mlflow.set_tracking_uri(tracking_uri)  # the fluent API reads the process-wide URI
        self.client: MlflowClient = MlflowClient(tracking_uri)

    # ------------------------------------------------------------------ health
    def check_reachable(self) -> None:
        """Fail early, clearly, and before any write when the tracking server is down."""
        try:
            self.client.search_experiments(max_results=1)
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            if any(s in text for s in _UNREACHABLE):
                raise TrackingUnavailableError(
                    f"MLflow at {self.tracking_uri} is unreachable after retries "
                    f"({text[:300]}); nothing was registered"
                ) from exc
            raise

    # ---------------------------------------------------------------- versions
    def alias_version(self, model: str, alias: str) -> ModelVersion | None:
        """The version an alias points to, or None (also when the model is not registered)."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(model, alias)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in _ABSENT:
                return None
            raise

    def version(self, model: str, version: str) -> ModelVersion | None:
        """One registered version, or None when it does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(model, version)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in _ABSENT:
                return None
            raise

    def versions(self, model: str, **tags: str) -> list[ModelVersion]:
        """The model's versions, optionally only those with these exact tag values."""
        from mlflow.exceptions import MlflowException

        query = f"name='{model}'" + "".join(
            f" and tags.`{key}`='{value}'" for key, value in tags.items()
        )
        try:
            return list(self.client.search_model_versions(query))
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in _ABSENT:
                return []
            raise

    def register(self, model_uri: str, model: str, tags: dict[str, str]) -> ModelVersion:
        """A new version of ``model`` from a logged model, with all its tags in one call."""
        import mlflow

        return mlflow.register_model(model_uri, model, tags=tags)

    def set_alias(self, model: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (no call when it already does)."""
        current = self.alias_version(model, alias)
        if current is None or str(current.version) != version:
            self.client.set_registered_model_alias(model, alias, version)

    def delete_alias(self, model: str, alias: str) -> None:
        if self.alias_version(model, alias) is not None:
            self.client.delete_registered_model_alias(model, alias)

    def set_tags(self, model: str, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(model, version, key, value)

    def load_model(self, model: str, version: str) -> PyFuncModel:
        import mlflow

        return mlflow.pyfunc.load_model(f"models:/{model}/{version}")

    # -------------------------------------------------------------- artifacts
    def load_dict(self, uri: str) -> dict[str, Any]:
        """A JSON artifact (``runs:/<run>/<path>``) as a dict."""
        import mlflow

        return dict(mlflow.artifacts.load_dict(uri))

    def load_parquet(self, uri: str) -> pd.DataFrame:
        """A Parquet artifact as a DataFrame (downloaded to a temporary folder)."""
        import tempfile

        import mlflow
        import pandas as pd

        with tempfile.TemporaryDirectory() as folder:
            local = mlflow.artifacts.download_artifacts(uri, dst_path=folder)
            return pd.read_parquet(local)

    # ------------------------------------------------------------ experiments
    def use_experiment(self, name: str, artifact_root: str | None) -> str:
        """The experiment ``name`` (created with artifacts under ``artifact_root`` when the
        store has no default), made active for the fluent API; returns its id."""
        import mlflow

        if self.client.get_experiment_by_name(name) is None:
            location = f"{artifact_root.rstrip('/')}/{name}" if artifact_root else None
            self.client.create_experiment(name, artifact_location=location)
        return str(mlflow.set_experiment(name).experiment_id)

    def run(self, run_id: str) -> Run:
        return self.client.get_run(run_id)


def run_url(tracking_uri: str, run_id: str) -> str:
    """Where a person finds a run: the UI when the store is a server, else its URI."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/#/runs/{run_id}"
    return f"runs:/{run_id}"
