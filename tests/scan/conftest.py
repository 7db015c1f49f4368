"""The real tiny registered model, as a tracking store and as a downloaded local directory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import mlflow_store


@dataclass(frozen=True)
class RegisteredModel:
    """Where the session's tiny registered model lives."""

    tracking_uri: str  # sqlite store holding the registry
    registry_uri: str  # models:/vulnfusion-ensemble@<alias>
    alias: str
    local_dir: Path  # `mlflow artifacts download` of it: scans without a store


@pytest.fixture(scope="session")
def registered_model(
    trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> RegisteredModel:
    import mlflow

    reg = json.loads((trained_workspace / "reports/registered_model.json").read_text())
    uri = f"sqlite:///{trained_workspace / 'mlflow.db'}"
    dst = tmp_path_factory.mktemp("model")
    # models:/ URIs resolve through the process-wide registry URI (MLflow 3 ignores the
    # registry_uri argument there): set it for the download only
    with mlflow_store(uri):
        local = mlflow.artifacts.download_artifacts(
            reg["registry_uri"], dst_path=str(dst), tracking_uri=uri, registry_uri=uri
        )
    return RegisteredModel(uri, reg["registry_uri"], reg["alias"], Path(local))


@pytest.fixture(scope="session")
def scan_model(registered_model: RegisteredModel):  # type: ignore[no-untyped-def]
    """The local model loaded once through ``scan``'s own loader (the pyfunc inside)."""
    from vulnfusion.scan.model import load_scan_model

    return load_scan_model(str(registered_model.local_dir))
