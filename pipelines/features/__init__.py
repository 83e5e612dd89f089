"""Features: the spec's columns of one date, built from the validated raw partitions and
written once per (model, date), so training, scoring and monitoring read the same columns."""
