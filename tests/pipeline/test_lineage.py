"""MLflow lineage pieces on a real sqlite store, without a whole pipeline (issue 16,
deliverable 5): stage processes under one `dvc` process share one parent run, another `dvc`
process gets another, processes outside DVC get none; each run logs the prepared splits as
dataset inputs with their digests. The real `dvc exp run` version of this is
tests/pipeline/test_dvc_experiments.py."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow  # three processes import MLflow

# What a stage process does: declare the prepared splits, open one run, print its id.
STAGE = """
import sys
from vulnfusion import lineage, tracking
from vulnfusion.config import load_config
cfg = load_config(sys.argv[1])
lineage.use_prepared_data(sys.argv[2])
with tracking.start_run(cfg, sys.argv[3], {"dvc_exp_name": "e1", "preset": "demo"}) as run:
    print(run.run_id)
"""
# A stand-in for the `dvc` process: runs each stage the way DVC does (a shell, DVC_STAGE set).
FAKE_DVC = """#!{python}
import os, subprocess, sys
for key in sys.argv[1:]:
    env = {{**os.environ, "DVC_STAGE": key}}
    subprocess.run(
        f"{python} -c '{{os.environ['STAGE_CODE']}}' {{os.environ['PARAMS']}} "
        f"{{os.environ['PREPARED']}} {{key}}",
        shell=True, env=env, check=True,
    )
"""


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    d = tmp_path / "data" / "prepared"
    d.mkdir(parents=True)
    for split, n in (("train", 3), ("valid", 1), ("test", 2)):
        func = "int f(void) { return 0; }"
        rows = [{"id": f"{split}{i}", "func": func, "target": i % 2} for i in range(n)]
        (d / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "stats.json").write_text(json.dumps({"source": "demo"}))
    return d


def _fake_dvc(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "dvc"
    path.parent.mkdir(exist_ok=True)
    path.write_text(FAKE_DVC.format(python=sys.executable))
    path.chmod(0o755)
    return path


def _run_dvc(dvc: Path, params: Path, prepared: Path, store: str, *stages: str) -> list[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))},
        "MLFLOW_TRACKING_URI": store,
        "DVC_EXP_NAME": "e1",
        "PYTHONPATH": str(ROOT / "src"),
        "STAGE_CODE": STAGE,
        "PARAMS": str(params),
        "PREPARED": str(prepared),
    }
    res = subprocess.run(
        [str(dvc), *stages], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.split()


def _client(store: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=store)


def test_one_parent_per_dvc_process_with_datasets(
    tmp_path: Path, tiny_params_file: Path, prepared: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    dvc = _fake_dvc(tmp_path)
    first = _run_dvc(dvc, tiny_params_file, prepared, store, "gnn-seed0", "gnn-seed1")
    second = _run_dvc(dvc, tiny_params_file, prepared, store, "gnn-seed0")
    client = _client(store)
    runs = {r: client.get_run(r) for r in first + second}
    parents = [runs[r].data.tags["mlflow.parentRunId"] for r in first + second]
    assert parents[0] == parents[1] != parents[2]  # one execution, one parent
    for p in set(parents):
        parent = client.get_run(p)
        assert parent.data.tags["mlflow.runName"] == "pipeline@e1"
        assert parent.data.tags["run_key"] == "pipeline"
        assert parent.info.status == "FINISHED"
    assert [runs[r].data.tags["mlflow.runName"] for r in first] == [
        "gnn-seed0@e1",
        "gnn-seed1@e1",
    ]
    expected = {
        (f"demo-{s}", hashlib.sha256((prepared / f"{s}.jsonl").read_bytes()).hexdigest()[:32], c)
        for s, c in (("train", "training"), ("valid", "validation"), ("test", "testing"))
    }
    for run in runs.values():
        got = {
            (
                di.dataset.name,
                di.dataset.digest,
                {t.key: t.value for t in di.tags}["mlflow.data.context"],
            )
            for di in run.inputs.dataset_inputs
        }
        assert got == expected
    profile = json.loads(
        next(
            di.dataset.profile
            for di in runs[first[0]].inputs.dataset_inputs
            if di.dataset.name == "demo-train"
        )
    )
    assert profile["num_rows"] == 3


def test_no_parent_outside_dvc(
    tmp_path: Path, tiny_params_file: Path, prepared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vulnfusion import lineage, tracking
    from vulnfusion.config import load_config

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.delenv("DVC_STAGE", raising=False)
    assert lineage.pipeline_key() is None
    cfg = load_config(tiny_params_file)
    lineage.use_prepared_data(prepared)
    try:
        with tracking.start_run(cfg, "gnn-seed0", {"preset": "demo"}) as run:
            pass
    finally:
        lineage.use_prepared_data(None)
    got = _client(store).get_run(run.run_id)
    assert "mlflow.parentRunId" not in got.data.tags
    assert len(got.inputs.dataset_inputs) == 3
