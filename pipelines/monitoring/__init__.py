"""Monitoring: the reference profile saved with each version (``reference``), drift statistics
(``statistics``), the day's check (``check``, ``live``, ``verdicts``), Evidently's report
(``evidently_report``), guarded retrain decisions (``retrain``), and the MLflow run of each
monitored day (``runs``). Training imports ``reference`` to save a version's profile."""
