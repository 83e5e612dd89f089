"""Shows invalid model specs as a DAG import error in the Airflow UI (file and field named).

It defines no DAG. While every spec in ``include/models/`` is valid it imports cleanly; the
DAGs of valid specs load from ``model_dags.py`` either way.
"""

from mlops.builders.factory import raise_for_bad_specs

raise_for_bad_specs()
