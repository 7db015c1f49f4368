"""MLflow run status when a stage is stopped: KILLED on SIGTERM (a real stage process), FAILED
on an error, and a run a SIGKILL left RUNNING is closed as KILLED by the next stage."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def _statuses(db: Path) -> dict[str, str]:
    if not db.exists():
        return {}
    with sqlite3.connect(db) as con:
        try:
            return dict(con.execute("select run_uuid, status from runs").fetchall())
        except sqlite3.OperationalError:  # schema not created yet
            return {}


def _start_gnn(ws: Path, db: Path, out: Path, epochs: int) -> subprocess.Popen[str]:
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{db}",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT / "src"),
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
    }
    cmd = [sys.executable, str(ROOT / "pipelines/train_gnn.py"), "--seed", "0"]
    cmd += ["--output-dir", str(out), "--epochs", str(epochs), "--patience", "0"]
    return subprocess.Popen(
        cmd, cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_running(proc: subprocess.Popen[str], db: Path, before: set[str]) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        new = {k: v for k, v in _statuses(db).items() if k not in before}
        if new:
            (run_id,) = new
            assert new[run_id] == "RUNNING"
            return run_id
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.2)
    pytest.fail("the stage never opened its MLflow run")


def test_sigterm_ends_the_run_killed(tiny_workspace: Path, tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    proc = _start_gnn(tiny_workspace, db, tmp_path / "gnn", epochs=500)
    run_id = _wait_running(proc, db, set())
    time.sleep(1.0)  # inside training
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "terminated"
    assert _statuses(db)[run_id] == "KILLED"


def test_a_sigkilled_run_is_closed_by_the_next_start(tiny_workspace: Path, tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    proc = _start_gnn(tiny_workspace, db, tmp_path / "a" / "gnn", epochs=500)
    stale = _wait_running(proc, db, set())
    proc.kill()
    proc.wait(timeout=60)
    assert _statuses(db)[stale] == "RUNNING"  # what SIGKILL leaves
    nxt = _start_gnn(tiny_workspace, db, tmp_path / "b" / "gnn", epochs=1)
    _, err = nxt.communicate(timeout=600)
    assert nxt.returncode == 0, err[-2000:]
    statuses = _statuses(db)
    assert statuses.pop(stale) == "KILLED"
    assert list(statuses.values()) == ["FINISHED"]
    assert f"closed stale run {stale}" in err


def test_error_fails_the_run_and_a_reopened_run_keeps_its_status(
    mlflow_env: str, tiny_params_file: Path
) -> None:
    from mlflow import MlflowClient

    from vulnfusion import tracking
    from vulnfusion.config import load_config

    cfg = load_config(tiny_params_file)
    with pytest.raises(ValueError), tracking.start_run(cfg, "x", {}) as run:
        raise ValueError("boom")
    client = MlflowClient(mlflow_env)
    assert client.get_run(run.run_id).info.status == "FAILED"
    with pytest.raises(KeyboardInterrupt), tracking.start_run(cfg, "y", {}) as killed:
        raise KeyboardInterrupt
    assert client.get_run(killed.run_id).info.status == "KILLED"
    with tracking.start_run(cfg, "z", {"a": "1"}) as done:
        pass
    with pytest.raises(ValueError), tracking.start_run(cfg, "z", {"a": "2"}, done.run_id):
        raise ValueError("register failed")
    finished = client.get_run(done.run_id)
    assert finished.info.status == "FINISHED" and finished.data.tags["a"] == "1"
