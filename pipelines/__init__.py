"""Batch MLOps steps: plain functions over URIs and typed specs, with no Airflow imports.

Airflow tasks, the ``python -m pipelines`` CLI and tests all call the same functions. The
packages follow the lifecycle: ``core`` (what every stage shares), ``sources``,
``validation``, ``features``, ``training``, ``serving``, ``monitoring``; ``cli``, ``status``
and ``scaffold`` sit on top. Keep this module light: DAG files import ``pipelines.core.spec``
at parse time.
"""

from pipelines import legacy

__version__ = "0.1.0"
legacy.install()  # module paths that registered models import (see legacy.py)
