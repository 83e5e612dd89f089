# Airflow image for the docker-compose stack and the official Helm chart: the official image
# plus the locked project deps (every trainer's packages, torch's CPU build included) and the
# project's packages: pipelines (the steps) and mlops (the Airflow layer, whose UI plugin
# Airflow finds through the package's entry point). The DAG files and the model specs are
# baked in at the same commit as the code (compose mounts them over for development).
FROM apache/airflow:3.3.2-python3.11

# The lock's Python: the wheels in constraints.txt are for it.
RUN python -c "import sys; assert sys.version_info[:2] == (3, 11), sys.version"

COPY --chown=airflow:root requirements.txt requirements-torch.txt constraints.txt pyproject.toml /opt/mlops/
# torch==2.13.0+cpu (the lock) comes from PyTorch's CPU index: the workers score and monitor
# torch_mlp models and train them in-process; GPU training runs in the training image.
RUN pip install --no-cache-dir -r /opt/mlops/requirements.txt -r /opt/mlops/requirements-torch.txt \
      -c /opt/mlops/constraints.txt --extra-index-url https://download.pytorch.org/whl/cpu \
 && pip check
COPY --chown=airflow:root pipelines /opt/mlops/pipelines
COPY --chown=airflow:root mlops /opt/mlops/mlops
RUN pip install --no-cache-dir --no-deps /opt/mlops \
 && pip check \
 && python -c "import torch, lightgbm, sklearn, mlflow, pipelines.cli, mlops.executors"
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root include /opt/airflow/include
ENV MLOPS_MODELS_DIR=/opt/airflow/include/models
# SimpleAuthManager's generated passwords live here (a volume in docker-compose.yaml).
RUN mkdir -p /opt/airflow/auth
