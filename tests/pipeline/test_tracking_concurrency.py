"""Several stages opening one fresh store at once (a sqlite file, a real `mlflow server`):
no schema race, no experiment-creation race, no lost or misplaced runs."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT

CODE = """
import sys, time
from pathlib import Path
from vulnfusion.config import load_config
from vulnfusion import tracking
cfg = load_config(sys.argv[1])
go = Path(sys.argv[3]) if len(sys.argv) > 3 else None
if go is not None:  # imports done: wait until every process is, then start together
    (go.parent / f"ready-{sys.argv[2]}").touch()
    while not go.exists():
        time.sleep(0.005)
tags = {"track": "gnn", "seed": sys.argv[2]}
with tracking.start_run(cfg, "gnn-seed" + sys.argv[2], tags) as run:
    for step in range(20):
        run.log_epoch({"train/loss": 1.0 / (step + 1)}, step)
"""


@pytest.mark.reliability
def test_parallel_first_use_of_a_sqlite_store(tmp_path: Path, reliability: object) -> None:
    db = tmp_path / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CODE, str(ROOT / "params.yaml"), str(seed)],
            env=env,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(3)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert not any("database is locked" in e for e in errors)
    with sqlite3.connect(db) as con:
        names = sorted(r[0] for r in con.execute("select value from tags where key = 'run_key'"))
        n_metrics = con.execute("select count(*) from metrics").fetchone()[0]
    assert names == ["gnn-seed0", "gnn-seed1", "gnn-seed2"]
    assert n_metrics == 3 * 20
    reliability(
        "3 processes open one fresh sqlite store at once",
        "3 runs, 60 metric points recorded; no schema race, no 'database is locked'",
    )


@pytest.mark.reliability
def test_parallel_first_use_of_a_tracking_server(
    tmp_path: Path, mlflow_server: str, reliability: object
) -> None:
    """Processes that all find no experiment and race to create it: the losers must log into
    the winner's experiment (MLflow's set_experiment(name) puts them in "Default")."""
    import mlflow

    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CODE, str(ROOT / "params.yaml"), str(seed), str(go)],
            env=env,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < len(procs):
        assert all(p.poll() is None for p in procs), [p.communicate()[1] for p in procs]
        assert time.monotonic() < deadline, "the processes never got ready"
        time.sleep(0.05)
    go.touch()
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    client = mlflow.MlflowClient(mlflow_server)
    placed = {
        e.name: sorted(r.data.tags["run_key"] for r in client.search_runs([e.experiment_id]))
        for e in client.search_experiments()
    }
    assert placed == {"vulnfusion": [f"gnn-seed{s}" for s in range(4)], "Default": []}, placed
    reliability(
        "4 processes create the experiment on a fresh `mlflow server` at once",
        "4 runs, all in experiment 'vulnfusion', none in 'Default'",
    )


def test_lost_experiment_creation_race_uses_the_winners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving that lost runs, made deterministic: this process looks the experiment
    up before another creates it, then its own create fails with RESOURCE_ALREADY_EXISTS."""
    import mlflow

    from vulnfusion import tracking
    from vulnfusion.config import load_config

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    winner = mlflow.MlflowClient(uri).create_experiment("vulnfusion")
    real = mlflow.get_experiment_by_name
    calls: list[str] = []

    def not_yet(name: str) -> object:  # the first lookup happens before the winner's create
        calls.append(name)
        return None if len(calls) == 1 else real(name)

    monkeypatch.setattr(mlflow, "get_experiment_by_name", not_yet)
    cfg = load_config(ROOT / "params.yaml")
    with tracking.start_run(cfg, "gnn-seed0", {"track": "gnn"}) as run:
        pass
    assert len(calls) >= 2  # it did try to create, and lost
    assert mlflow.MlflowClient(uri).get_run(run.run_id).info.experiment_id == winner


def test_a_deleted_experiment_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from vulnfusion import tracking
    from vulnfusion.config import load_config

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = mlflow.MlflowClient(uri)
    client.delete_experiment(client.create_experiment("vulnfusion"))
    with pytest.raises(tracking.TrackingError, match="deleted experiment 'vulnfusion'") as err:
        tracking.connect(load_config(ROOT / "params.yaml"))
    assert "\n" not in str(err.value)
