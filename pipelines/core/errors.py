"""One small exception hierarchy. Every message says what failed, where, and how to fix it."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class for every error the pipelines package raises on purpose."""


class SpecError(PipelineError):
    """A model spec is invalid; the message names the file and the field path."""


class PartitionMissingError(PipelineError):
    """An input partition for the requested date does not exist (yet): callers skip, not crash."""


class CorruptPartitionError(PipelineError):
    """An input file exists but cannot be read as Parquet; nothing downstream is written."""


class StorageUnavailableError(PipelineError):
    """The object store did not answer after retries (endpoint down, DNS, credentials)."""


class NotEnoughDataError(PipelineError):
    """There is too little usable data for a step (e.g. no labelled rows yet): callers skip."""


class TrainingError(PipelineError):
    """Training could not produce a model from the data it was given."""


class TrackingUnavailableError(PipelineError):
    """The MLflow tracking server did not answer after retries; nothing was registered."""


class PromotionError(PipelineError):
    """A promotion or rollback that is not allowed (bad target, broken invariant)."""


class ConcurrentPromotionError(PromotionError):
    """Another promotion run changed the model's state first; nothing was written."""


class NoChampionError(PipelineError):
    """No version serves yet (the gate has not crowned one): scoring skips."""


# A step that ends in one of these did nothing on purpose: skip, with the reason.
SKIPS = (PartitionMissingError, NotEnoughDataError, NoChampionError)
