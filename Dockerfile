# Airflow image for the docker-compose stack: the official image plus the locked project deps
# and the project's packages: pipelines (the steps) and mlops (the Airflow layer, whose UI
# plugin Airflow finds through the package's entry point). DAG files and include/ are mounted.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.txt constraints.txt pyproject.toml /opt/mlops/
COPY --chown=airflow:root pipelines /opt/mlops/pipelines
COPY --chown=airflow:root mlops /opt/mlops/mlops
RUN pip install --no-cache-dir -r /opt/mlops/requirements.txt -c /opt/mlops/constraints.txt \
 && pip install --no-cache-dir --no-deps /opt/mlops
# SimpleAuthManager's generated passwords live here (a volume in docker-compose.yaml).
RUN mkdir -p /opt/airflow/auth
