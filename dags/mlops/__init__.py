"""Airflow wiring for the pipelines package: settings, Assets, task builders and the DAG factory.

Only light modules are imported at parse time; each task imports ``pipelines`` steps inside
its body, so parsing a DAG file never loads pandas, MLflow, LightGBM, GX or Evidently.
"""
