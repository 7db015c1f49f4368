"""`torchrun --nproc_per_node=2` on CPU (gloo): training works and rank 0 alone writes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("track", ["gnn", "transformer"])
def test_torchrun_two_cpu_processes(tiny_workspace: Path, tmp_path: Path, track: str) -> None:
    db = tmp_path / "mlflow.db"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{db}",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    out = tmp_path / "out"
    torchrun = Path(sys.executable).parent / "torchrun"
    res = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node=2",
            str(ROOT / f"pipelines/train_{track}.py"),
            "--seed",
            "0",
            "--output-dir",
            str(out),
            "--features-dir",
            str(tiny_workspace / "data/features"),
            "--set",
            "gnn.train.epochs=2",
        ],
        cwd=tiny_workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["threshold_sweep"]) == 41 and (m["valid"]["n"], m["test"]["n"]) == (16, 16)
    assert (out / "model.safetensors").exists()
    with sqlite3.connect(db) as con:
        runs = [r[0] for r in con.execute("select value from tags where key = 'run_key'")]
    assert runs == [f"{track}-seed0"]  # one run: rank 1 logged nothing
    assert res.stderr.count("valid/f1") == 2  # one summary line per epoch, from rank 0 only
