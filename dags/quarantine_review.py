"""The quarantine review DAG (see dags/mlops/review.py)."""

from mlops.review import review_dag

dag = review_dag()
