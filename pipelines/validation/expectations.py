"""Running the contract's checks through Great Expectations, on the frame in memory.

One suite per partition, SUMMARY results (counts and a sample of failures, no copy of the
frame); each check gets its own outcome back even where GX merges equal expectations. GX is
imported here only, inside the function: nothing at DAG parse time pays for it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipelines.validation.checks import Check

if TYPE_CHECKING:
    import pandas as pd


def run_expectations(frame: pd.DataFrame, checks: list[Check]) -> list[dict[str, Any]]:
    """Run the checks as one GX suite on the in-memory frame (no copy); one dict per check.

    SUMMARY format: counts and a sample of failures. The failing rows themselves come from
    ``failing_rows`` only for the checks that failed and drop rows.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("lake")
        .add_dataframe_asset("partition")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    # GX drops an expectation equal to one already in the suite (a declared domain and the
    # same learned one, say): run each distinct one once, and give its outcome to every check.
    distinct: dict[str, int] = {}
    for check in checks:
        distinct.setdefault(_identity(check), len(distinct))
    suite = gx.ExpectationSuite(name="contract")
    for check in checks:
        index = distinct[_identity(check)]
        if index < len(suite.expectations):
            continue
        kwargs = {
            k: pd.Timestamp(v) if isinstance(v, datetime) else v for k, v in check.kwargs.items()
        }
        suite.add_expectation(getattr(gxe, check.expectation)(**kwargs, meta={"check": index}))
    outcome = batch.validate(suite, result_format="SUMMARY")
    # GX does not keep the suite's order: match results by the index kept in ``meta``.
    by_index: dict[int, dict[str, Any]] = {}
    for r in outcome.results:
        info = r.exception_info or {}
        config = r.expectation_config
        meta = (config.meta if config is not None else None) or {}
        by_index[int(meta["check"])] = {
            "success": bool(r.success),
            "result": dict(r.result or {}),
            "error": info.get("exception_message") if info.get("raised_exception") else None,
        }
    return [by_index[distinct[_identity(check)]] for check in checks]


def _identity(check: Check) -> str:
    return f"{check.expectation}:{json.dumps(check.kwargs, sort_keys=True, default=str)}"
