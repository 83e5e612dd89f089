"""MLflow "model from code" entry point: the class every logged model version loads."""

from mlflow.models import set_model

from pipelines.training.pyfunc import TabularModel

set_model(TabularModel())
