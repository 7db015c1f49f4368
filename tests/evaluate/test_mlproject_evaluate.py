"""`mlflow run . -e evaluate` for real, on a throwaway copy of the project."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.evaluate.conftest import RegisteredModel
from tests.helpers import copy_project, dvc_env
from vulnfusion.data.demo.heldout import write_heldout
from vulnfusion.io import read_json

pytestmark = pytest.mark.slow


def test_mlproject_evaluate_entry_point(registered_model: RegisteredModel, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    root = copy_project(tmp_path / "project")
    data = write_heldout(tmp_path / "pairs.jsonl", 5)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = ["mlflow", "run", ".", "-e", "evaluate", "--env-manager", "local"]
    cmd += ["--experiment-name", "vulnfusion", "-P", f"data={data}", "-P", "name=mlp"]
    cmd += ["-P", f"model={registered_model.local_dir}"]
    env = {**dvc_env(), "MLFLOW_TRACKING_URI": store}
    res = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "P-C (both correct)" in res.stdout

    report = read_json(root / "reports" / "evaluations" / "mlp" / "evaluation.json")
    client = MlflowClient(store)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("vulnfusion").experiment_id], max_results=5
    )
    assert run.info.run_id == report["mlflow"]["run_id"]  # the run `mlflow run` opened
    assert run.info.run_name == "evaluate-mlp"
    assert run.data.params["name"] == "mlp" and run.data.params["eval.n_boot"] == "1000"
    assert run.data.metrics["pairs/n"] == 5.0
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.name == "pairs.jsonl"
