"""Training: the labelled window (``dataset``), trainers (``trainers``, ``torch_mlp``), fit and
gate without MLflow (``fit``, ``gate``), the MLflow run (``tracking``, ``plots``), the
registry's decisions (``registration``), the logged pyfunc (``pyfunc``, ``model_code``) and the
step that composes them (``train``)."""
