"""MLflow "models from code" entry: the served model is built from code, never unpickled."""

import mlflow

from vulnfusion.serving import make_pyfunc

mlflow.models.set_model(make_pyfunc())
