#!/usr/bin/env bash
# make compose-smoke: on a machine with a container engine (a developer's own, CI elsewhere),
# build the images, bring the compose stack up, run one night of flight_delay through it
# (training, scoring, promotion, monitoring: every run must succeed), and tear it all down,
# volumes included. The test suite does not need an engine; this is the check that does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! docker info > /dev/null 2>&1; then
  echo "compose-smoke needs a running container engine ('docker info' failed)" >&2
  exit 2
fi
[ -f .env ] || python3 scripts/make_env.py
project="${COMPOSE_SMOKE_PROJECT:-mlops-smoke}"
compose() { docker compose -p "$project" "$@"; }
trap 'compose logs --no-color > compose-smoke.log 2>&1 || true; compose down -v -t 30 --remove-orphans' EXIT
compose up -d --build --wait --wait-timeout "${COMPOSE_SMOKE_TIMEOUT:-900}"
password=$(compose exec -T airflow-apiserver python -c \
  "import json; print(json.load(open('/opt/airflow/auth/passwords.json'))['admin'])")
.venv/bin/python -m scripts.compose_night --url "${AIRFLOW_BASE_URL:-http://localhost:8080}" \
  --password "$password" --model flight_delay --night 2013-01-02
