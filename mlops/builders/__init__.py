"""DAG builders: a model spec in, its DAGs out (``factory`` builds all of a spec's DAGs)."""
