# Shared environment for the local stack (sourced by demo.sh, down.sh and the Makefile).
# Everything lives in the project-local .state/ folder; nothing is written elsewhere.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${MLOPS_STATE_DIR:-$ROOT/.state}"
AIRFLOW_PORT="${MLOPS_AIRFLOW_PORT:-8080}"
MLFLOW_PORT="${MLOPS_MLFLOW_PORT:-5000}"
export PATH="$ROOT/.venv/bin:$PATH"   # airflow standalone starts its components from PATH

export AIRFLOW_HOME="$STATE/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export AIRFLOW__CORE__PARALLELISM=4
# LocalExecutor, with the pipelines' libraries imported once before its workers fork
# (mlops/executors.py): each task skips one to four seconds of imports.
export AIRFLOW__CORE__EXECUTOR=mlops.executors.PreloadingLocalExecutor
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
# The key that signs the UI's and the API's tokens: random, 64 bytes, kept in the state folder.
if [ ! -s "$STATE/jwt_secret" ]; then
  mkdir -p "$STATE"
  (umask 077 && python3 -c "import secrets; print(secrets.token_hex(32))" > "$STATE/jwt_secret")
fi
export AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$STATE/jwt_secret")"
export AIRFLOW__API__PORT="$AIRFLOW_PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$AIRFLOW_PORT"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
export AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL=30

export AIRFLOW_VAR_MLOPS_LAKE_URI="$STATE/lake"
export AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT"
export MLFLOW_TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT"
export MLFLOW_HTTP_REQUEST_TIMEOUT=60
export MLFLOW_HTTP_REQUEST_MAX_RETRIES=5
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
# The server's job runner (GenAI evaluation jobs) is unused here: five fewer worker processes.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false

# Nothing phones home. MLflow 3 sends usage telemetry unless MLFLOW_DISABLE_TELEMETRY is true
# (it reads DO_NOT_TRACK only as "true"); Evidently stops for any DO_NOT_TRACK value.
export GX_ANALYTICS_ENABLED=false
export DO_NOT_TRACK=1
export MLFLOW_DISABLE_TELEMETRY=true
