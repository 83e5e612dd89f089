"""The Airflow DAG ``mlops__quarantine_review``: replay, accept or discard a quarantined batch.

Built in ``mlops/builders/review.py``; trigger it from the UI form.
"""

from mlops.builders.review import review_dag

dag = review_dag()
