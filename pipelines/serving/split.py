"""The traffic split of a rollout: which rows the challenger serves, and the rows of the
predictions partition that record who served each one. Pure (NumPy and pandas only).

Rows go to the challenger by a stable hash of the entity key salted per rollout, so an
entity stays on one model during a step and a new rollout reshuffles.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from pipelines.core.layout import CHALLENGER
from pipelines.core.spec import ModelSpec


def challenger_mask(keys: pd.Series, salt: str, share: float) -> np.ndarray:
    """True for the rows whose salted key hash falls in the challenger's share.

    Keys are hashed as stored (their type is fixed by the data contract), with a 64-bit
    SipHash keyed by the rollout's salt.
    """
    if share <= 0:
        return np.zeros(len(keys), dtype=bool)
    hash_key = hashlib.sha256(salt.encode()).hexdigest()[:16]
    hashed = pd.util.hash_pandas_object(keys, index=False, hash_key=hash_key).to_numpy()
    return hashed < np.uint64(min(share, 1.0) * float(2**64 - 1))


def predictions_frame(
    frame: pd.DataFrame,
    spec: ModelSpec,
    predictions: np.ndarray,
    to_challenger: np.ndarray,
    champion: tuple[str, str],
    challenger: str | None,
    salt: str,
) -> pd.DataFrame:
    """The predictions partition's rows: key, time, prediction, and the version and alias
    (``champion`` is (version, alias)) that served each row."""
    served_by = to_challenger.astype("int8")
    return pd.DataFrame(
        {
            spec.entity_key: frame[spec.entity_key],
            spec.timestamp: frame[spec.timestamp],
            "prediction": predictions,
            "model_version": pd.Categorical.from_codes(served_by, [champion[0], challenger or "-"]),
            "model_alias": pd.Categorical.from_codes(served_by, [champion[1], CHALLENGER]),
            "rollout_salt": pd.Categorical.from_codes(np.zeros(len(frame), dtype="int8"), [salt]),
        }
    )
