"""Values that JSON can carry, owned here: every step result, JSON file and Asset event extra
goes through ``json_safe`` on its way out.

JSON has no NaN or infinity. Python's ``json`` writes them anyway (invalid JSON that other
readers refuse), and Airflow refuses them in XCom ("Out of range float values are not JSON
compliant") after the task's work is done, so a task would fail, and retry, for a number
that only says "undefined". Undefined becomes ``null``; the result carrying it says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with every NaN and infinity (at any depth) replaced by None, NumPy scalars as
    Python numbers, arrays and Series as lists, dates as ISO text, tuples and sets as lists."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    to_list = getattr(value, "tolist", None)  # NumPy arrays and scalars, pandas Series
    if callable(to_list):
        return json_safe(to_list())
    return value
