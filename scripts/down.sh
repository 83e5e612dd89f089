#!/usr/bin/env bash
# make down: stop what make demo started (each by its own process group), nothing else.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
for name in airflow mlflow; do
  pidfile="$STATE/$name.pid"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null
    echo "stopped $name (process group $pid)"
  fi
  rm -f "$pidfile"
done
