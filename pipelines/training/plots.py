"""Evaluation plots logged with every training run (PNG, rendered without a display).

Figures are made with matplotlib's object API, not pyplot: no global figure registry to
close and no GUI backend to choose (scikit-learn's curve displays import pyplot themselves,
but draw on the axes they are given).
"""

from __future__ import annotations

import numpy as np

from pipelines.core.layout import Artifacts


def log_plots(
    importance: dict[str, float], task: str, y: np.ndarray, predicted: np.ndarray
) -> None:
    """Feature importance, plus ROC and precision-recall (binary) or residuals (regression).

    Curves are drawn from a seeded sample of at most 50,000 rows: enough for the picture,
    and drawing cost does not grow with the holdout.
    """
    import mlflow
    from matplotlib.figure import Figure
    from sklearn import metrics

    top = sorted(importance.items(), key=lambda item: item[1])[-30:]
    figure = Figure(figsize=(6, max(3, 0.3 * len(top))))
    axis = figure.subplots()
    axis.barh([name for name, _ in top], [value for _, value in top])
    axis.set_title("Feature importance")
    figure.tight_layout()
    mlflow.log_figure(figure, f"{Artifacts.PLOTS}/feature_importance.png")

    if len(y) > 50_000:
        keep = np.random.default_rng(0).choice(len(y), size=50_000, replace=False)
        y, predicted = y[keep], predicted[keep]
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots(1, 2)
    if task == "binary":
        metrics.RocCurveDisplay.from_predictions(y, predicted, ax=axes[0])
        metrics.PrecisionRecallDisplay.from_predictions(y, predicted, ax=axes[1])
        axes[0].set_title("ROC (holdout)")
        axes[1].set_title("Precision-recall (holdout)")
    else:
        axes[0].scatter(predicted, y - predicted, s=2, alpha=0.3)
        axes[0].set_title("Residuals vs prediction (holdout)")
        axes[1].hist(y - predicted, bins=50)
        axes[1].set_title("Residuals (holdout)")
    figure.tight_layout()
    mlflow.log_figure(figure, f"{Artifacts.PLOTS}/holdout.png")
