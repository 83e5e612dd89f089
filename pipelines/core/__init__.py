"""What every stage shares, and nothing stage-specific: the spec (``spec``), errors, the lake
(``storage``) and its names (``layout``), day boundaries (``calendar``), quality metrics
(``metrics``), the MLflow registry (``registry``) and the process settings (``environment``).
Core imports no other package of ``pipelines``."""
