"""MLflow "models from code" entry: the served model is built from code, never unpickled.

``registry.register_ensemble`` logs this file as the model's code (it lives inside the
package, so a non-editable install can register too). MLflow executes it when loading the
model; it is not meant to be imported.
"""

import mlflow

from vulnfusion.serving import make_pyfunc

mlflow.models.set_model(make_pyfunc())
