"""Task builders: one TaskFlow task (or operator) per ``pipelines`` step, shared by the
generated DAGs and hand-written ones. Each task body is one call into ``pipelines`` and
returns small JSON for XCom.

Why the steps are imported inside the task bodies: Airflow parses the DAG file again at
every task start, and the steps load pandas, pyarrow, MLflow, LightGBM, Great Expectations
or Evidently. At module level only the light parts of ``pipelines.core`` are imported (the
spec, layout, calendar, errors, the registry wrapper, which imports MLflow when built).
"""
