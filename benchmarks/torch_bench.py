"""PyTorch MLP trainer: CPU vs CUDA on the same seeded synthetic rows.

Times ``fit_torch_mlp`` (encode, copy to the device, a fixed number of epochs, validation
each epoch) and reports wall time, seconds per epoch and the validation RMSE, so the same
command run here (CPU) and on a GPU machine gives comparable numbers.
Usage: ``python -m benchmarks.torch_bench --rows 2000000 --epochs 3 [--batch-size 8192]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()

    import torch

    from pipelines.core.spec import SyntheticOptions, parse_spec
    from pipelines.sources.synthetic import generate_day
    from pipelines.training.dataset import category_levels, model_matrix
    from pipelines.training.torch_mlp import fit_torch_mlp

    params: dict[str, object] = {"epochs": args.epochs, "hidden": [256, 128]}
    if args.batch_size:
        params["batch_size"] = args.batch_size
    features = [{"name": f"num_{i}", "type": "numeric"} for i in range(28)]
    features += [{"name": f"cat_{i}", "type": "categorical"} for i in range(2)]
    spec = parse_spec(
        {
            "name": "torch_bench",
            "owner": "bench",
            "source": {"kind": "synthetic", "dataset": "bench"},
            "entity_key": "entity_id",
            "timestamp": "event_time",
            "label": {"name": "target", "task": "regression"},
            "features": features,
            "training": {"algorithm": "torch_mlp", "params": params, "early_stopping_rounds": 99},
            "gates": {"metric": "rmse"},
            "schedules": {"start_date": "2013-01-01"},
        },
        "benchmark spec",
    )
    options = SyntheticOptions(rows_per_day=args.rows, numeric_features=28, categorical_features=2)
    frame = generate_day(options, "regression", date(2013, 1, 1))
    cut = int(len(frame) * 0.8)
    train, valid = frame.iloc[:cut], frame.iloc[cut:]
    levels = category_levels(train, spec)
    x_train, x_valid = model_matrix(train, spec, levels), model_matrix(valid, spec, levels)
    y_train, y_valid = train["target"].to_numpy(), valid["target"].to_numpy()

    started = time.perf_counter()
    model = fit_torch_mlp(spec, x_train, y_train, x_valid, y_valid)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    rmse = float(np.sqrt(np.mean((model.predict(x_valid) - y_valid) ** 2)))
    result = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "rows_train": len(x_train),
        "epochs": args.epochs,
        "batch_size": model.config.batch_size,
        "fit_s": round(wall, 2),
        "s_per_epoch": round(wall / args.epochs, 2),
        "valid_rmse": round(rmse, 4),
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
