"""Three seeds as queued DVC experiments run two at a time (`dvc exp run --queue` +
`dvc queue start -j 2`), against the default sqlite store and against a real `mlflow server`
on 127.0.0.1: every run and every metric recorded, no "database is locked", nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import dvc_project, sh

pytestmark = [pytest.mark.slow, pytest.mark.heavy, pytest.mark.reliability]

SEEDS = (0, 1, 2)
EPOCHS = 2


def _repo(root: Path) -> Path:
    dvc_project(root, gnn={"train": {"epochs": EPOCHS, "patience": 0}})
    # features once in the main workspace: the experiments take them from the DVC cache
    sh(["dvc", "repro", "featurize"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-qm", "features"], root)
    return root


def _queue_seeds(root: Path, extra: tuple[str, ...] = ()) -> str:
    for seed in SEEDS:
        sh(
            [
                "dvc",
                "exp",
                "run",
                "--queue",
                "-n",
                f"seed{seed}",
                "-S",
                f"seeds=[{seed}]",
                *extra,
                "train_gnn",
            ],
            root,
        )
    sh(["dvc", "queue", "start", "-j", "2"], root)
    deadline = time.monotonic() + 900
    while True:
        status = sh(["dvc", "queue", "status"], root).stdout
        if not any(word in status for word in ("Queued", "Running")):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(2)


def _logs(root: Path) -> str:
    return "\n".join(sh(["dvc", "queue", "logs", f"seed{s}"], root).stdout for s in SEEDS)


def _check_runs(runs: list[dict], logs: str) -> None:
    # each experiment's pipeline parent run (pipeline@seed<s>) holds its stage run
    parents = {r["info"]["run_id"] for r in runs if r["data"]["tags"]["run_key"] == "pipeline"}
    runs = [r for r in runs if r["info"]["run_id"] not in parents]
    assert {r["data"]["tags"]["mlflow.parentRunId"] for r in runs} == parents
    by_name = {r["info"]["run_name"]: r for r in runs}
    # named and tagged with their DVC experiment (`-n seed<s>`), so they can be told apart
    assert sorted(by_name) == [f"gnn-seed{s}@seed{s}" for s in SEEDS], sorted(by_name)
    for s in SEEDS:
        assert by_name[f"gnn-seed{s}@seed{s}"]["data"]["tags"]["dvc_exp_name"] == f"seed{s}"
    for name, run in by_name.items():
        assert run["info"]["status"] == "FINISHED", name
        metrics = set(run["data"].get("metrics", {}))
        assert {"valid/f1", "test/roc_auc", "f1_at_best_threshold"} <= metrics, (name, metrics)
    assert "database is locked" not in logs


def _history(client: object, run_id: str, key: str) -> list[float]:
    return [m.value for m in client.get_metric_history(run_id, key)]  # type: ignore[attr-defined]


def _all_steps_recorded(uri: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("vulnfusion")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], "tags.run_key != 'pipeline'")
    assert len(runs) == len(SEEDS)
    for r in runs:  # one point per epoch for every per-epoch metric: nothing lost
        assert len(_history(client, r.info.run_id, "valid/f1")) == EPOCHS
        assert len(_history(client, r.info.run_id, "train/loss")) == EPOCHS


def _runs_json(uri: str) -> list[dict]:
    code = (
        "import json, sys, mlflow\n"
        "from mlflow.tracking import MlflowClient\n"
        "c = MlflowClient(sys.argv[1]); e = c.get_experiment_by_name('vulnfusion')\n"
        "rs = c.search_runs([e.experiment_id])\n"
        "print(json.dumps([r.to_dictionary() for r in rs]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, uri], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return json.loads(out)


def test_queued_seeds_into_the_default_sqlite_store(tmp_path: Path, reliability: object) -> None:
    root = _repo(tmp_path / "proj")
    status = _queue_seeds(root)
    assert status.count("Success") == len(SEEDS), status
    uri = f"sqlite:///{root / 'mlflow.db'}"  # the main checkout's store, not the exp temp dirs
    _check_runs(_runs_json(uri), _logs(root))
    _all_steps_recorded(uri)
    reliability(
        "3 seeds as queued DVC experiments, `dvc queue start -j 2`, default sqlite store",
        f"3/3 experiments Success; 3 runs FINISHED with all {EPOCHS} epochs of every "
        "metric; no 'database is locked'",
    )


def test_queued_seeds_into_a_real_tracking_server(
    tmp_path: Path, mlflow_server: str, reliability: object
) -> None:
    root = _repo(tmp_path / "proj")
    status = _queue_seeds(root, ("-S", f"mlflow.tracking_uri={mlflow_server}"))
    assert status.count("Success") == len(SEEDS), status
    _check_runs(_runs_json(mlflow_server), _logs(root))
    _all_steps_recorded(mlflow_server)
    assert not (root / "mlflow.db").exists()  # nothing went to a local store instead
    reliability(
        "3 seeds as queued DVC experiments, `dvc queue start -j 2`, real `mlflow server`",
        f"3/3 experiments Success; 3 runs FINISHED on the server with all {EPOCHS} "
        "epochs of every metric; nothing written to a local store",
    )
