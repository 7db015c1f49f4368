"""Real SIGKILLs: a killed training stage resumes under `dvc repro` to identical outputs; a
killed featurize leaves nothing a later stage could take as complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import dvc_env, dvc_project, sh

pytestmark = pytest.mark.slow


def _kill_when(root: Path, stage: str, ready: Path, timeout: float = 600) -> None:
    """Start `dvc repro <stage>`, SIGKILL its whole process group once ``ready`` exists."""
    proc = subprocess.Popen(
        ["dvc", "repro", stage],
        cwd=root,
        env=dvc_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not ready.exists():
        assert proc.poll() is None, f"{stage} finished before it could be killed"
        assert time.monotonic() < deadline, f"{ready} never appeared"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


@pytest.mark.reliability
def test_killed_training_resumes_to_identical_outputs(tmp_path: Path, reliability: object) -> None:
    params = {"gnn": {"train": {"epochs": 4, "patience": 0}}}
    ref = dvc_project(tmp_path / "ref", **params)
    sh(["dvc", "repro", "train_gnn@0"], ref)

    run = dvc_project(tmp_path / "run", **params)
    sh(["dvc", "repro", "featurize"], run)
    resume = run / "outputs/gnn/.seed_0.resume.pt"
    _kill_when(run, "train_gnn@0", resume)  # killed after an epoch, mid-way through the next
    assert not (run / "outputs/gnn/seed_0/metrics.json").exists()
    out = sh(["dvc", "repro", "train_gnn@0"], run)
    assert "resumed from" in out.stderr + out.stdout
    a = json.loads((ref / "outputs/gnn/seed_0/metrics.json").read_text())
    b = json.loads((run / "outputs/gnn/seed_0/metrics.json").read_text())
    assert a == b
    assert (ref / "outputs/gnn/seed_0/logits.json").read_text() == (
        run / "outputs/gnn/seed_0/logits.json"
    ).read_text()
    assert not resume.exists()
    reliability(
        "SIGKILL of `dvc repro train_gnn@0` mid-epoch (after epoch 1 of 4)",
        "`dvc repro` resumed from the last epoch; metrics.json and logits.json "
        "byte-identical to an uninterrupted run; resume file removed",
    )


@pytest.mark.reliability
def test_killed_featurize_leaves_no_complete_looking_output(
    tmp_path: Path, reliability: object
) -> None:
    root = dvc_project(tmp_path / "r", data={"demo": {"n_functions": 1200}})
    sh(["dvc", "repro", "prepare"], root)
    data = root / "data"
    proc = subprocess.Popen(
        ["dvc", "repro", "featurize"],
        cwd=root,
        env=dvc_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    # featurize writes into a hidden temp dir that is renamed into place at the very end
    while not any(p.name.startswith(".features.") for p in data.iterdir()):
        assert proc.poll() is None, "featurize finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (data / "features").exists()  # nothing looks complete
    assert "changed" in sh(["dvc", "status", "featurize"], root).stdout
    sh(["dvc", "repro", "featurize"], root)
    assert (data / "features/stats.json").exists()
    assert not any(p.name.startswith(".features.") for p in data.iterdir())  # stale temp swept
    reliability(
        "SIGKILL of `dvc repro featurize` while writing",
        "no data/features left (only a hidden temp dir); `dvc status` says changed; the "
        "next `dvc repro` rebuilt it and swept the stale temp dir",
    )
