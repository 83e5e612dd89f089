#!/usr/bin/env bash
# make demo: prepare state in .state/, start Airflow (standalone) and an MLflow server in the
# background, then replay the first nights of 2013 through the real scheduler, night by night
# (scripts/demo.py): every model's training, scoring, promotion and monitoring DAGs run, and a
# summary per model and night ends it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
FROM=2013-01-01
NIGHTS=14          # synthetic_demand: a stepwise rollout to champion, then one aborted
FLIGHT_NIGHTS=8    # flight_delay: a challenger replaces the champion
# The replay ends the nightly schedule there: unpausing a DAG never starts a run for today.
export MLOPS_SCHEDULE_END
MLOPS_SCHEDULE_END=$(python -c "import datetime as d; print(d.date.fromisoformat('$FROM') + d.timedelta(days=$NIGHTS - 1))")
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
  echo "preparing the Airflow metadata DB ..."
  airflow db migrate >"$STATE/logs/prepare.log" 2>&1
  airflow dags reserialize >>"$STATE/logs/prepare.log" 2>&1
  # GPU training pods queue on this pool (one slot per GPU); here it only has to exist.
  airflow pools set gpu "${MLOPS_GPU_SLOTS:-1}" "GPU training pods (one slot per GPU)" >>"$STATE/logs/prepare.log" 2>&1
fi

start mlflow mlflow server --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
  --backend-store-uri "sqlite:///$STATE/mlflow/mlflow.db" \
  --artifacts-destination "$STATE/mlflow/artifacts"
start airflow airflow standalone

exec python "$ROOT/scripts/demo.py" --start "$FROM" --nights "$NIGHTS" --flight-nights "$FLIGHT_NIGHTS"
