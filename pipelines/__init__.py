"""Batch MLOps steps: plain functions over URIs and typed specs, with no Airflow imports.

Airflow tasks, the ``python -m pipelines`` CLI and tests all call the same functions.
Keep this module light: DAG files import ``pipelines.spec`` at parse time.
"""

__version__ = "0.1.0"
