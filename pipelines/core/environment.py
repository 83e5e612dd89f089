"""Settings every process of the project runs with, in one place for Python callers (the
training pod's environment, the tests, the benchmarks). scripts/env.sh, docker-compose.yaml
and the training image set the same; tests/deploy/test_no_telemetry.py checks each."""

# No usage telemetry, no progress bars in task logs. MLflow 3 reads DO_NOT_TRACK only as
# "true", so it needs its own switch; Evidently stops for any DO_NOT_TRACK value.
QUIET_ENV = {
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
