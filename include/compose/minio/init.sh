#!/bin/sh
# minio-init: the buckets, and one user per client scoped to its buckets (policies here).
# Idempotent: every `docker compose up` runs it again and changes nothing that exists.
set -eu
mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing local/mlops-lake local/mlops-logs local/mlflow-artifacts
mc admin policy create local mlops-lake-and-logs /policies/lake-and-logs.json
mc admin policy create local mlops-mlflow-artifacts /policies/mlflow-artifacts.json
mc admin user add local "$AIRFLOW_S3_ACCESS_KEY" "$AIRFLOW_S3_SECRET_KEY"
mc admin user add local "$MLFLOW_S3_ACCESS_KEY" "$MLFLOW_S3_SECRET_KEY"
attach() {  # policy user: attach once (attaching again is an error in mc)
  mc admin user info local "$2" | grep -q "$1" || mc admin policy attach local "$1" --user "$2"
}
attach mlops-lake-and-logs "$AIRFLOW_S3_ACCESS_KEY"
attach mlops-mlflow-artifacts "$MLFLOW_S3_ACCESS_KEY"
