"""PyTorch MLP for tabular data: an embedding per categorical feature plus standardized numbers.

Runs on CUDA when a GPU is present and on the CPU otherwise. On a GPU the whole encoded
matrix is copied to the device once (pinned host memory, one non-blocking transfer), batches
are large (``batch_size``: by default 65,536 on GPU and 4,096 on CPU, and no more than a
tenth of the training rows so an epoch has at least ~10 steps) and the forward pass runs
under bfloat16 autocast; on the CPU it runs in float32. Early stopping watches the loss on
the time-based validation days. Seeded: the same data and spec give the same model on a
given device.
Hyperparameters (``training.params``): ``hidden`` (list of layer widths, default [128, 64]),
``dropout`` (0.1), ``learning_rate`` (1e-3), ``weight_decay`` (1e-5), ``batch_size``,
``epochs`` (default ``training.num_boost_round`` capped at 50).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.spec import ModelSpec


@dataclass(frozen=True)
class Encoding:
    """How a model matrix becomes tensors: fixed on the training rows, reused to predict."""

    numeric: list[str]
    categorical: list[str]
    cardinalities: list[int]  # levels + 1 (index 0: missing or unseen)
    means: list[float]
    scales: list[float]
    target_mean: float
    target_scale: float
    task: str

    def encode(self, matrix: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        numbers = matrix[self.numeric].to_numpy(dtype=np.float32, na_value=np.nan)
        numbers = (numbers - np.asarray(self.means, np.float32)) / np.asarray(
            self.scales, np.float32
        )
        numbers = np.nan_to_num(numbers, nan=0.0)  # missing -> the training mean
        codes = np.zeros((len(matrix), len(self.categorical)), dtype=np.int64)
        for j, column in enumerate(self.categorical):
            codes[:, j] = matrix[column].cat.codes.to_numpy(np.int64) + 1  # -1 (NaN) -> 0
        return numbers, codes


@dataclass(frozen=True)
class MLPConfig:
    """Hyperparameters as trained (``best_epoch`` is filled in by training)."""

    hidden: list[int]
    dropout: float
    learning_rate: float
    weight_decay: float
    batch_size: int
    epochs: int
    device: str
    best_epoch: int = 0

    @classmethod
    def from_spec(cls, spec: ModelSpec, where: str, rows: int) -> MLPConfig:
        """Defaults fill the device but keep at least ~10 optimizer steps per epoch."""
        params = spec.training.params
        batch = min(65_536 if where == "cuda" else 4_096, max(256, rows // 10))
        return cls(
            hidden=[int(h) for h in params.get("hidden", [128, 64])],
            dropout=float(params.get("dropout", 0.1)),
            learning_rate=float(params.get("learning_rate", 1e-3)),
            weight_decay=float(params.get("weight_decay", 1e-5)),
            batch_size=int(params.get("batch_size", batch)),
            epochs=int(params.get("epochs", min(spec.training.num_boost_round, 50))),
            device=where,
        )


def build_encoding(matrix: pd.DataFrame, y: np.ndarray, spec: ModelSpec) -> Encoding:
    categorical = spec.features_of_type("categorical")
    numeric = [f for f in spec.feature_names if f not in categorical]
    values = matrix[numeric].to_numpy(dtype=np.float64, na_value=np.nan)
    means = np.nan_to_num(np.nanmean(values, axis=0)) if len(numeric) else np.zeros(0)
    scales = np.nan_to_num(np.nanstd(values, axis=0), nan=1.0) if len(numeric) else np.zeros(0)
    scales[scales == 0] = 1.0
    regression = spec.label.task == "regression"
    return Encoding(
        numeric=numeric,
        categorical=categorical,
        cardinalities=[len(matrix[c].cat.categories) + 1 for c in categorical],
        means=means.tolist(),
        scales=scales.tolist(),
        target_mean=float(np.mean(y)) if regression else 0.0,
        target_scale=float(np.std(y) or 1.0) if regression else 1.0,
        task=spec.label.task,
    )


def _network(encoding: Encoding, hidden: list[int], dropout: float) -> Any:
    import torch
    from torch import nn

    class TabularMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            dims = [min(16, (n + 1) // 2 + 1) for n in encoding.cardinalities]
            self.embeddings = nn.ModuleList(
                nn.Embedding(n, d) for n, d in zip(encoding.cardinalities, dims, strict=True)
            )
            width = len(encoding.numeric) + sum(dims)
            layers: list[nn.Module] = []
            for size in hidden:
                layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
                width = size
            layers.append(nn.Linear(width, 1))
            self.body = nn.Sequential(*layers)

        def forward(self, numbers: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
            parts = [numbers] + [e(codes[:, j]) for j, e in enumerate(self.embeddings)]
            return self.body(torch.cat(parts, dim=1)).squeeze(1)

    return TabularMLP()


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TorchMLPModel:
    """A trained MLP with its encoding (saved as a state dict plus JSON)."""

    algorithm = "torch_mlp"

    def __init__(self, network: Any, encoding: Encoding, config: MLPConfig) -> None:
        self.network = network
        self.encoding = encoding
        self.config = config
        self.best_iteration = config.best_epoch

    def predict(self, matrix: pd.DataFrame) -> np.ndarray:
        import torch

        numbers, codes = self.encoding.encode(matrix)
        where = next(self.network.parameters()).device
        self.network.eval()
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(numbers), 262_144):
                chunk = slice(start, start + 262_144)
                out = self.network(
                    torch.from_numpy(numbers[chunk]).to(where),
                    torch.from_numpy(codes[chunk]).to(where),
                )
                outputs.append(out.float().cpu().numpy())
        raw = np.concatenate(outputs) if outputs else np.zeros(0, np.float32)
        if self.encoding.task == "binary":
            return 1.0 / (1.0 + np.exp(-raw.astype(np.float64)))
        return raw.astype(np.float64) * self.encoding.target_scale + self.encoding.target_mean

    def importance(self) -> dict[str, float]:
        return {}

    def params(self) -> dict[str, Any]:
        return {f"torch.{k}": str(v) for k, v in asdict(self.config).items()}

    def save(self, folder: Path) -> dict[str, str]:
        import torch

        weights, meta = folder / "mlp.pt", folder / "mlp.json"
        state = {k: v.detach().cpu() for k, v in self.network.state_dict().items()}
        torch.save(state, weights)
        config = asdict(self.config)
        meta.write_text(json.dumps({"encoding": asdict(self.encoding), "config": config}))
        return {"model": str(weights), "torch": str(meta)}

    @classmethod
    def load(cls, files: dict[str, str]) -> TorchMLPModel:
        import torch

        meta = json.loads(Path(files["torch"]).read_text())
        encoding, config = Encoding(**meta["encoding"]), MLPConfig(**meta["config"])
        network = _network(encoding, config.hidden, config.dropout)
        network.load_state_dict(torch.load(files["model"], weights_only=True))
        return cls(network.to(device()), encoding, config)


def fit_torch_mlp(
    spec: ModelSpec,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
) -> TorchMLPModel:
    """Adam with early stopping on the validation loss; keeps the best epoch's weights."""
    import torch

    torch.manual_seed(spec.training.seed)
    where = device()
    config = MLPConfig.from_spec(spec, where, len(x_train))
    encoding = build_encoding(x_train, y_train, spec)
    network = _network(encoding, config.hidden, config.dropout).to(where)
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    binary = spec.label.task == "binary"
    loss_fn = torch.nn.BCEWithLogitsLoss() if binary else torch.nn.MSELoss()
    train = _tensors(encoding, x_train, y_train, where)
    valid_numbers, valid_codes, valid_y = _tensors(encoding, x_valid, y_valid, where)
    generator = torch.Generator(device=where).manual_seed(spec.training.seed)
    autocast = torch.autocast(device_type=where, dtype=torch.bfloat16, enabled=where == "cuda")
    best_loss, best_epoch, best_state, waited = float("inf"), 0, None, 0
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(train[2]), device=where, generator=generator)
        _one_epoch(network, optimizer, loss_fn, train, order, config.batch_size, autocast)
        network.eval()
        with torch.inference_mode(), autocast:
            valid_loss = float(loss_fn(network(valid_numbers, valid_codes).float(), valid_y))
        if valid_loss < best_loss - 1e-6:
            best_loss, best_epoch, waited = valid_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
        else:
            waited += 1
            if waited >= spec.training.early_stopping_rounds:
                break
    if best_state is not None:
        network.load_state_dict(best_state)
    return TorchMLPModel(network, encoding, replace(config, best_epoch=best_epoch))


def _tensors(encoding: Encoding, matrix: pd.DataFrame, y: np.ndarray, where: str) -> list[Any]:
    """Numbers, category codes and the scaled target as tensors on ``where``; on a GPU one
    pinned, non-blocking copy each, so batches are then sliced on the device."""
    import torch

    numbers, codes = encoding.encode(matrix)
    target = (y.astype(np.float64) - encoding.target_mean) / encoding.target_scale
    out = [
        torch.from_numpy(numbers),
        torch.from_numpy(codes),
        torch.from_numpy(target.astype(np.float32)),
    ]
    if where == "cuda":
        out = [t.pin_memory().to(where, non_blocking=True) for t in out]
    return out


def _one_epoch(
    network: Any,
    optimizer: Any,
    loss_fn: Any,
    data: list[Any],
    order: Any,
    batch_size: int,
    autocast: Any,
) -> None:
    """One pass over the training rows in ``order``, ``batch_size`` rows per step."""
    numbers, codes, target = data
    network.train()
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            prediction = network(numbers[rows], codes[rows])
        loss = loss_fn(prediction.float(), target[rows])
        loss.backward()
        optimizer.step()
