"""The Airflow UI plugin: a models page, where task buttons lead, reports from the lake.

Registered through the ``airflow.plugins`` entry point of this package (``plugin.py``), so
an API server that has the package installed loads it; no plugins folder is needed.
"""
