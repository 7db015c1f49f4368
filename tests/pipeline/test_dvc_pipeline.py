"""A real `git init` + `dvc repro` of the pipeline on a tiny demo, in tmp_path."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import dvc_project, sh


@pytest.fixture
def dvc_repo(tmp_path: Path) -> Path:
    return dvc_project(tmp_path / "proj")


def test_prepare_and_featurize(dvc_repo: Path) -> None:
    sh(["dvc", "repro", "featurize"], dvc_repo)
    stats = json.loads((dvc_repo / "data/prepared/stats.json").read_text())
    assert sum(s["count"] for s in stats["splits"].values()) == 160
    assert (dvc_repo / "data/features/train.safetensors").exists()
    status = sh(["dvc", "status", "featurize"], dvc_repo).stdout
    assert status.strip() == "Data and pipelines are up to date."
    again = sh(["dvc", "repro", "featurize"], dvc_repo).stdout
    assert "didn't change, skipping" in again


@pytest.mark.slow
def test_full_pipeline_and_mlflow_runs(dvc_repo: Path) -> None:
    sh(["dvc", "repro"], dvc_repo, timeout=1500)
    for track in ("transformer", "gnn", "fusion"):
        for seed in (0, 1):
            m = json.loads((dvc_repo / f"outputs/{track}/seed_{seed}/metrics.json").read_text())
            assert len(m["threshold_sweep"]) == 41
        assert (dvc_repo / f"outputs/{track}/ensemble_metrics.json").exists()
    assert "acceptance target" in (dvc_repo / "reports/comparison.md").read_text()
    metrics = sh(["dvc", "metrics", "show", "--json"], dvc_repo).stdout
    assert "f1_at_best_threshold" in metrics
    # The default store: sqlite at the project root, one run per stage execution.
    with sqlite3.connect(dvc_repo / "mlflow.db") as db:
        names = {r[0] for r in db.execute("select value from tags where key = 'run_key'")}
        aliases = db.execute("select name, alias, version from registered_model_aliases").fetchall()
    expected = {f"{t}-seed{s}" for t in ("transformer", "gnn", "fusion") for s in (0, 1)}
    assert expected | {"transformer-ensemble", "gnn-ensemble", "fusion-ensemble"} <= names
    # one alias on version 1, the one the comparison's acceptance targets decide
    passed = json.loads((dvc_repo / "reports/comparison.json").read_text())["all_targets_pass"]
    assert aliases == [("vulnfusion-ensemble", "champion" if passed else "candidate", 1)]
    assert sh(["dvc", "status"], dvc_repo).stdout.strip() == "Data and pipelines are up to date."
    # MLproject: aggregation through `mlflow run` leaves a run with the ensemble metrics
    sh(
        [
            "mlflow",
            "run",
            ".",
            "-e",
            "aggregate",
            "--env-manager",
            "local",
            "--experiment-name",
            "vulnfusion",
            "-P",
            "track=gnn",
        ],
        dvc_repo,
    )
    with sqlite3.connect(dvc_repo / "mlflow.db") as db:
        rows = db.execute(
            "select r.run_uuid from runs r join tags t on t.run_uuid = r.run_uuid "
            "where t.key = 'mlflow.project.entryPoint' and t.value = 'aggregate'"
        ).fetchall()
        assert len(rows) == 1
        keys = {r[0] for r in db.execute("select key from metrics where run_uuid = ?", rows[0])}
    assert {"f1_at_best_threshold", "test/roc_auc"} <= keys
