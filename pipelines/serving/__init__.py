"""Serving: batch scoring with the champion and the challenger's share (``scoring``), the
promotion state machine (``state``) and strategy (``policy``), live evidence (``evidence``),
the append-only history projected onto MLflow aliases (``history``), and the runs that wire
them to the lake and the registry (``runs``)."""
