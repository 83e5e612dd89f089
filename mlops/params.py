"""Trigger-form fields (Airflow Params), declared once: what a person may choose when starting
a run by hand. Each has a type, title, description and bounds, so the UI form (and the REST
API) refuses bad input with the field's message before any run is created. Model knobs live
in the spec, not here."""

from __future__ import annotations

from airflow.sdk import Param

from pipelines.core.spec import TRAINING_OVERRIDES, ModelSpec, training_overrides_schema

DATE_PARAM = "partition_date"
REVIEW_ACTIONS = ["revalidate", "accept", "discard"]


def date_param() -> Param:
    """Process a specific date instead of the run's data interval."""
    return Param(
        None,
        type=["null", "string"],
        format="date",
        title="Partition date",
        description=(
            "Date of the data partition to process (YYYY-MM-DD). Leave empty to use the "
            "start of the run's data interval (the nightly schedule does this)."
        ),
    )


def reason_param(description: str, required: bool = True) -> Param:
    """A free-text reason, recorded; the UI asks for one unless ``required`` is False."""
    if required:
        return Param("", type="string", maxLength=500, title="Reason", description=description)
    kinds = ["null", "string"]
    return Param(None, type=kinds, maxLength=500, title="Reason", description=description)


def training_params() -> dict[str, Param]:
    """The retrain form: a date, training changes for this run only, and why."""
    schema = training_overrides_schema()
    return {
        DATE_PARAM: date_param(),
        "overrides": Param(
            {},
            title="Training overrides (this run only)",
            description=(
                "JSON object; allowed keys: " + ", ".join(TRAINING_OVERRIDES) + ". `params` "
                'are merged into the spec\'s, e.g. {"params": {"learning_rate": 0.03}, '
                '"window_days": 14}. The version is tagged with them; the spec is unchanged.'
            ),
            **schema,
        ),
        "reason": reason_param("Why this retrain: recorded on the MLflow run and version."),
    }


def scoring_params() -> dict[str, Param]:
    """The scoring form: a date, and optionally one version for every row."""
    return {
        DATE_PARAM: date_param(),
        "version": Param(
            None,
            type=["null", "string"],
            title="Force a version",
            description="Score every row with this registered version (empty: as served).",
        ),
    }


def promotion_params(spec: ModelSpec) -> dict[str, Param]:
    """The promotion form: let the strategy decide, or advance / abort the rollout by hand."""
    return {
        DATE_PARAM: date_param(),
        "action": Param(
            "decide",
            type="string",
            enum=["decide", "advance", "abort"],
            title="Action",
            description=(
                f"decide: the {spec.promotion.strategy} strategy decides on the evidence (what "
                "the schedule does). advance: move the challenger one step now (or start its "
                "rollout). abort: take the challenger out of service; the champion stays."
            ),
        ),
        "reason": reason_param(
            "Why: required for advance and abort; recorded in the history.", required=False
        ),
    }


def rollback_params(models: list[str]) -> dict[str, Param]:
    """The rollback form: which model, which version (default: the previous one), why."""
    return {
        "model": Param(
            models[0] if models else "", type="string", enum=models or [""], title="Model"
        ),
        "version": Param(
            None,
            type=["null", "string"],
            title="Version",
            description="Registered version to make champion (empty: the previous one).",
        ),
        "reason": Param(
            "",
            type="string",
            minLength=3,
            maxLength=500,
            title="Reason",
            description="Why: recorded in the promotion history and on the versions.",
        ),
    }


def review_params(datasets: list[str]) -> dict[str, Param]:
    """The quarantine review form: dataset, date, action, reason, retrain when released."""
    return {
        "dataset": Param(
            datasets[0] if datasets else "",
            type="string",
            enum=datasets or [""],
            title="Dataset",
            description="The quarantined dataset (a model's batch or its labels).",
        ),
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Partition date",
            description="Date of the quarantined partition (YYYY-MM-DD).",
        ),
        "action": Param(
            "revalidate",
            type="string",
            enum=REVIEW_ACTIONS,
            title="Action",
            description=(
                "revalidate: run the current contract again (after a fix). accept: publish "
                "as is (needs approval). discard: set it aside for good (needs approval)."
            ),
        ),
        "reason": Param(
            "",
            type="string",
            maxLength=500,
            title="Reason",
            description="Why: recorded with the decision. Required for accept and discard.",
        ),
        "retrain": Param(
            True,
            type="boolean",
            title="Retrain when released",
            description="Start the model's training run for that date once the data is clean.",
        ),
    }
