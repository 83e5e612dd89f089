#!/bin/bash
# First start of the PostgreSQL volume only (docker-entrypoint-initdb.d): one role and one
# database per client, each with its own password, so no service holds the superuser's.
#   airflow: Airflow's metadata (api-server, scheduler, dag-processor, triggerer, init)
#   mlflow:  MLflow's tracking and registry store (the MLflow server)
#   celery:  Celery's task results (scheduler and workers; workers get nothing else)
set -euo pipefail
roles=(airflow mlflow celery)
for role in "${roles[@]}"; do  # every password first: nothing is created when one is missing
  var="${role^^}_DB_PASSWORD"
  : "${!var:?$var is not set}"
done
for role in "${roles[@]}"; do
  var="${role^^}_DB_PASSWORD"
  password="${!var}"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="$role" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
