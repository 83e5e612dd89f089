"""Evaluation plots: real PNGs in a real MLflow run, for both tasks."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from PIL import Image

from pipelines.training.plots import log_plots

pytestmark = pytest.mark.integration


def logged_images(tracking_uri: str, tmp_path: Path, task: str) -> dict[str, Image.Image]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 60_000) if task == "binary" else rng.normal(size=60_000)
    predicted = y + rng.normal(scale=0.4, size=len(y))
    if task == "binary":
        predicted = np.clip(predicted, 0.001, 0.999)  # probabilities
    importance = {f"num_{i}": float(i) for i in range(40)}
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("plots")
    with mlflow.start_run() as run:
        log_plots(importance, task, y, predicted)
    folder = mlflow.artifacts.download_artifacts(
        f"runs:/{run.info.run_id}/plots", dst_path=str(tmp_path)
    )
    return {path.name: Image.open(path) for path in Path(folder).glob("*.png")}


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_plots_are_drawn_pngs_of_the_expected_size(tracking_uri, tmp_path, task):
    images = logged_images(tracking_uri, tmp_path, task)
    assert set(images) == {"feature_importance.png", "holdout.png"}
    # 100 dpi: 6 in wide, 0.3 in per feature for the 30 most important; 10 x 4 in
    assert images["feature_importance.png"].size == (600, 900)
    assert images["holdout.png"].size == (1000, 400)
    for image in images.values():
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 20  # drawn, not a blank canvas
