"""MLflow "models from code" entry: the served model is built from code, never unpickled.

``registry.register_ensemble`` hands this file (by path) to ``mlflow.pyfunc.log_model``;
MLflow executes it when the model is logged and loaded. It lives inside the package so a
non-editable install has it too. Not meant to be imported by the package itself.
"""

import mlflow

from vulnfusion.serving import make_pyfunc

mlflow.models.set_model(make_pyfunc())
