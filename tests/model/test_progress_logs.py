"""Progress off a terminal (issue 13 item 8): a real tiny training run as a subprocess with
pipes for stdout/stderr (tqdm is silent there) logs a progress line per step when
VULNFUSION_PROGRESS_S=0, and long epochs get step-level MLflow metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import run_script
from vulnfusion import training
from vulnfusion.config import load_config
from vulnfusion.runs.branch import train_branch

LINE = re.compile(
    r"train epoch (\d+)/2: step (\d+)/(\d+) \(\d+%\)  loss \d+\.\d{4}  \d+\.\d ex/s  ETA \w+"
)


def test_progress_lines_without_a_terminal(tiny_workspace: Path, tmp_path: Path) -> None:
    env = {"VULNFUSION_PROGRESS_S": "0", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"}
    res = run_script(
        "train_gnn.py",
        "--seed", "0",
        "--features-dir", str(tiny_workspace / "data/features"),
        "--output-dir", str(tmp_path / "out"),
        cwd=tiny_workspace,
        env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [LINE.search(x) for x in (res.stdout + res.stderr).splitlines()]
    seen = [(int(m[1]), int(m[2]), int(m[3])) for m in lines if m]
    total = seen[0][2]
    assert total > 1
    # interval 0: exactly one line per optimizer step, both epochs, in order
    assert seen == [(e, s, total) for e in (1, 2) for s in range(1, total + 1)]
    assert "featurize" not in res.stderr  # training only: featurize logs in its own stage


def test_step_metrics_reach_mlflow(
    tiny_workspace: Path, tmp_path: Path, mlflow_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setattr(training, "STEP_METRICS_EVERY", 3)
    cfg = load_config(tiny_workspace / "params.yaml")
    train_branch(cfg, "gnn", 0, tiny_workspace / "data/features", tmp_path / "out", "test")
    client = MlflowClient(mlflow_env)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/step_loss")]
    rates = client.get_metric_history(run.info.run_id, "train/step_examples_per_s")
    assert steps and steps == sorted(steps) and all(s % 3 == 0 for s in steps)
    assert steps == list(range(3, steps[-1] + 1, 3)) and len(rates) == len(steps)
    assert all(r.value > 0 for r in rates)
