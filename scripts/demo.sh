#!/usr/bin/env bash
# make demo: prepare state in .state/, queue Airflow backfills of the first 14 days of 2013 for
# every model's training DAG, start Airflow (standalone) and an MLflow server in the background,
# then watch the real scheduler run them and print a summary.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
FROM=2013-01-01
TO=2013-01-14
mkdir -p "$STATE/logs" "$STATE/mlflow/artifacts" "$AIRFLOW_HOME" "$STATE/lake"

port_open() { python -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $1)))"; }
running() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
start() {  # start NAME CMD...: run in its own process group (make down stops that group)
  local name=$1; shift
  if running "$name"; then echo "$name already running (pid $(cat "$STATE/$name.pid"))"; return; fi
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$STATE/$name.pid"
  echo "started $name (pid $!, log .state/logs/$name.log)"
}

if ! running airflow; then
  for port in "$AIRFLOW_PORT" "$MLFLOW_PORT"; do
    if port_open "$port"; then echo "port $port is taken; set MLOPS_AIRFLOW_PORT / MLOPS_MLFLOW_PORT" >&2; exit 1; fi
  done
  # Backfills are queued before the scheduler starts (on SQLite, creating them while the
  # scheduler runs can hit the database lock); the DAGs stay paused until the API server is
  # up, then demo.py unpauses them, so no task starts before the API it reports to.
  echo "preparing the Airflow metadata DB and queueing backfills $FROM .. $TO ..."
  airflow db migrate >"$STATE/logs/prepare.log" 2>&1
  airflow dags reserialize >>"$STATE/logs/prepare.log" 2>&1
  # GPU training pods queue on this pool (one slot per GPU); here it only has to exist.
  airflow pools set gpu "${MLOPS_GPU_SLOTS:-1}" "GPU training pods (one slot per GPU)" >>"$STATE/logs/prepare.log" 2>&1
  for dag_id in $(python -c "from pipelines.core.spec import load_specs; print(' '.join(n + '__training' for n in load_specs('$ROOT/include/models')[0]))"); do
    # Day D trains on the days before it: one run at a time (backfills otherwise run dates in parallel).
    airflow backfill create --dag-id "$dag_id" --from-date "$FROM" --to-date "${TO}T23:59:59" \
      --max-active-runs 1 --reprocess-behavior none >>"$STATE/logs/prepare.log" 2>&1 \
      || echo "  $dag_id: no new runs to queue (already backfilled)"
    echo "  queued $dag_id"
  done
fi

start mlflow mlflow server --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
  --backend-store-uri "sqlite:///$STATE/mlflow/mlflow.db" \
  --artifacts-destination "$STATE/mlflow/artifacts"
start airflow airflow standalone

exec python "$ROOT/scripts/demo.py" --start "$FROM" --days 14
