"""The UI side of the project's Airflow plugin (see ``plugins/mlops_plugin.py``)."""
