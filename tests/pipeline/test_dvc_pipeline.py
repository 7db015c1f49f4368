"""A real `git init` + `dvc repro` of the pipeline on a tiny demo, in tmp_path."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_project, tiny_params


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "HF_HUB_OFFLINE": "1",
            "DVC_NO_ANALYTICS": "1",
            "PYTHONUNBUFFERED": "1",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        }
    )
    return env


def _sh(cmd: list[str], root: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        cmd, cwd=root, env=_env(root), capture_output=True, text=True, timeout=timeout
    )
    assert res.returncode == 0, f"{cmd}: {res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture
def dvc_repo(tmp_path: Path) -> Path:
    root = copy_project(tmp_path / "proj")
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    _sh(["git", "init", "-q"], root)
    _sh(["dvc", "init", "-q"], root)
    _sh(["git", "add", "-A"], root)
    _sh(["git", "commit", "-qm", "init"], root)
    return root


def test_prepare_and_featurize(dvc_repo: Path) -> None:
    _sh(["dvc", "repro", "featurize"], dvc_repo)
    stats = json.loads((dvc_repo / "data/prepared/stats.json").read_text())
    assert sum(s["count"] for s in stats["splits"].values()) == 160
    assert (dvc_repo / "data/features/train.safetensors").exists()
    status = _sh(["dvc", "status", "featurize"], dvc_repo).stdout
    assert "changed" not in status  # up to date: a second repro would do nothing
    again = _sh(["dvc", "repro", "featurize"], dvc_repo).stdout
    assert "didn't change, skipping" in again


@pytest.mark.slow
def test_full_pipeline_and_mlflow_runs(dvc_repo: Path) -> None:
    _sh(["dvc", "repro"], dvc_repo, timeout=1500)
    for track in ("transformer", "gnn", "fusion"):
        for seed in (0, 1):
            m = json.loads((dvc_repo / f"outputs/{track}/seed_{seed}/metrics.json").read_text())
            assert len(m["threshold_sweep"]) == 41
        assert (dvc_repo / f"outputs/{track}/ensemble_metrics.json").exists()
    assert "acceptance target" in (dvc_repo / "reports/comparison.md").read_text()
    metrics = _sh(["dvc", "metrics", "show", "--json"], dvc_repo).stdout
    assert "f1_at_best_threshold" in metrics
    # The default store: sqlite at the project root, one run per stage execution.
    with sqlite3.connect(dvc_repo / "mlflow.db") as db:
        names = {r[0] for r in db.execute("select name from runs")}
        aliases = {r[0] for r in db.execute("select alias from registered_model_aliases")}
    expected = {f"{t}-seed{s}" for t in ("transformer", "gnn", "fusion") for s in (0, 1)}
    assert expected | {"transformer-ensemble", "gnn-ensemble", "fusion-ensemble"} <= names
    assert aliases & {"champion", "candidate"}
    assert (
        "up to date" in _sh(["dvc", "status"], dvc_repo).stdout.lower()
        or "changed" not in _sh(["dvc", "status"], dvc_repo).stdout
    )
    # MLproject: aggregation through `mlflow run` leaves a run with the ensemble metrics
    _sh(
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
