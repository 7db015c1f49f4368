"""Every MLproject entry point for real (`mlflow run . -e <entry> --env-manager local`) on a
tiny git + DVC project, then the README's serve/query and Python API blocks as written
against the state the pipeline left.

The `main` run is the session's shared :class:`~tests.pipeline.conftest.MainExperiment`
(``test_dvc_experiments.py`` adds a second experiment to a copy of it); the other entry
points run here, in order, on its workspace."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, dvc_env, mlflow_run, sh
from tests.pipeline.conftest import MainExperiment
from vulnfusion.io import free_port

pytestmark = [pytest.mark.slow, pytest.mark.heavy]

MODEL = "vulnfusion-ensemble"
TRACKS = ("transformer", "gnn", "fusion")


def _client(root: Path):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _runs(root: Path) -> list:  # type: ignore[type-arg]
    client = _client(root)
    exp = client.get_experiment_by_name("vulnfusion")
    return list(client.search_runs([exp.experiment_id], max_results=500))


@pytest.fixture(scope="module")
def project(main_experiment: MainExperiment) -> Path:
    """`mlflow run . -e main` (= `dvc exp run`) on a tiny committed project."""
    return main_experiment.root


def test_main_runs_the_pipeline_as_a_dvc_experiment(
    project: Path, main_experiment: MainExperiment
) -> None:
    reg = json.loads((project / "reports/registered_model.json").read_text())
    assert reg["name"] == MODEL and reg["version"] == "1"
    exps = json.loads(sh(["dvc", "exp", "show", "--json"], project).stdout)
    names = {e["name"] for b in exps for e in (b.get("experiments") or []) if e.get("name")}
    names |= {
        r["name"]
        for b in exps
        for e in (b.get("experiments") or [])
        for r in e["revs"]
        if r.get("name")
    }
    runs = [r for r in _runs(project) if r.data.tags.get("dvc_stage")]
    assert len(runs) == 2 * 3 + 3  # 2 seeds x 3 tracks + 3 ensembles (register adds no run)
    exp_names = {r.data.tags["dvc_exp_name"] for r in runs}
    assert len(exp_names) == 1 and exp_names <= names, (exp_names, names)
    assert sorted(exp_names) == main_experiment.experiments  # the one experiment main made
    (exp_name,) = exp_names
    head = sh(["git", "rev-parse", "HEAD"], project).stdout.strip()
    for r in runs:
        assert r.info.status == "FINISHED"
        assert r.info.run_name == f"{r.data.tags['run_key']}@{exp_name}"
        assert r.data.tags["dvc_exp_baseline_rev"] == head
    expected = {f"{t}-seed{s}" for t in TRACKS for s in (0, 1)}
    expected |= {f"{t}-ensemble" for t in TRACKS}
    assert {r.data.tags["run_key"] for r in runs} == expected
    kind = _client(project).get_experiment_by_name("vulnfusion").tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"


def test_main_leaves_every_output_and_an_up_to_date_workspace(
    project: Path, main_experiment: MainExperiment
) -> None:
    """What the pipeline writes, checked on the workspace `main` left (status read right
    after the run, before another entry point changed anything)."""
    for track in TRACKS:
        for seed in (0, 1):
            m = json.loads((project / f"outputs/{track}/seed_{seed}/metrics.json").read_text())
            assert len(m["threshold_sweep"]) == 41
        assert (project / f"outputs/{track}/ensemble_metrics.json").exists()
    assert "acceptance target" in (project / "reports/comparison.md").read_text()
    metrics = sh(["dvc", "metrics", "show", "--json"], project).stdout
    assert "f1_at_best_threshold" in metrics
    # one alias on version 1, the one the comparison's acceptance targets decide
    passed = json.loads((project / "reports/comparison.json").read_text())["all_targets_pass"]
    with sqlite3.connect(project / "mlflow.db") as db:
        aliases = db.execute("select name, alias, version from registered_model_aliases").fetchall()
    assert aliases == [(MODEL, "champion" if passed else "candidate", 1)]
    assert main_experiment.status == "Data and pipelines are up to date."


def test_register_keeps_the_aggregate_runs_provenance(project: Path) -> None:
    client = _client(project)
    version = client.get_model_version_by_alias(MODEL, _alias(project))
    source = client.get_run(version.run_id)
    stats = json.loads((project / "data/prepared/stats.json").read_text())
    assert source.data.tags["run_key"] == "fusion-ensemble"
    assert source.data.tags["dvc_stage"] == "aggregate@fusion"
    assert source.data.tags["data_hash"] == stats["data_hash"] != "unknown"
    assert source.info.status == "FINISHED"
    t = version.tags
    data = (t["data_source"], t["data_path"], t["data_hash"])
    assert data == ("demo", "demo", stats["data_hash"])
    assert (t["preset"], t["split_strategy"]) == ("demo", stats["strategy"])
    assert t["evaluation"] == f"test split of demo ({stats['strategy']})"
    assert (version.description or "").startswith("DEMO MODEL")


def _alias(root: Path) -> str:
    return str(json.loads((root / "reports/registered_model.json").read_text())["alias"])


def test_registering_unchanged_weights_adds_no_version(project: Path) -> None:
    before = json.loads((project / "reports/registered_model.json").read_text())
    res = subprocess.run(
        [sys.executable, "pipelines/register.py", "--output", "reports/again.json"],
        cwd=project,
        env=dvc_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    again = json.loads((project / "reports/again.json").read_text())
    assert again["version"] == before["version"] == "1"
    versions = _client(project).search_model_versions(f"name = '{MODEL}'")
    assert [str(v.version) for v in versions] == ["1"]


def test_fusion_train_entry_point(project: Path) -> None:
    res = mlflow_run(project, "fusion_train", "seed=1", "fusion_preset=fusion_high_recall")
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = [
        r for r in _runs(project) if r.data.tags.get("mlflow.project.entryPoint") == "fusion_train"
    ]
    assert run.info.status == "FINISHED"
    assert run.data.params["fusion_preset"] == "fusion_high_recall"
    assert run.data.params["fusion.preset"] == "fusion_high_recall"
    assert run.data.tags["run_key"] == "fusion-seed1"
    assert "f1_at_best_threshold" in run.data.metrics


def test_aggregate_entry_point(project: Path) -> None:
    res = mlflow_run(project, "aggregate", "track=gnn")
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = [
        r for r in _runs(project) if r.data.tags.get("mlflow.project.entryPoint") == "aggregate"
    ]
    assert run.info.status == "FINISHED"
    assert {"f1_at_best_threshold", "test/roc_auc"} <= set(run.data.metrics)


def test_a_failing_entry_point_prints_one_line(project: Path) -> None:
    res = mlflow_run(project, "fusion_train", "seed=0", "fusion_preset=nope")
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    ours = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(ours) == 1 and "nope" in ours[0], res.stderr[-2000:]
    failed = [r for r in _runs(project) if r.data.params.get("fusion_preset") == "nope"]
    assert [r.info.status for r in failed] == ["FAILED"]


def _readme_block(heading: str, index: int) -> str:
    """The ``index``-th bash block under README section ``heading``."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)[index]


def test_readme_serve_and_query_block_works_as_written(project: Path, tmp_path: Path) -> None:
    port = str(free_port())
    block = _readme_block("Serve and query the model", 0)
    block = block.replace("source .venv/bin/activate\n", "").replace("5001", port)
    env = {**dvc_env(), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out, err = tmp_path / "out", tmp_path / "err"
    # files, not pipes: the backgrounded server would hold a pipe open past the script's end
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(
            ["bash", "-ec", block],
            cwd=project,
            env=env,
            stdout=o,
            stderr=e,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):  # the server left in the background
                os.killpg(proc.pid, signal.SIGTERM)
    assert rc == 0, err.read_text()[-2000:]
    preds = json.loads(out.read_text().strip().splitlines()[-1])["predictions"]
    assert len(preds) == 1 and set(preds[0]) == {"probability", "label"}
    assert 0.0 <= preds[0]["probability"] <= 1.0 and preds[0]["label"] in (0, 1)


def test_readme_python_block_works_from_another_directory(project: Path, tmp_path: Path) -> None:
    block = _readme_block("Serve and query the model", 1)
    block = block.replace("cd /tmp", f"cd {tmp_path}")
    env = {**dvc_env(), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    res = subprocess.run(
        ["bash", "-ec", block], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert re.search(r"probability\s+label\n0\s+[0-9.e+-]+\s+[01]\n", res.stdout), res.stdout
    assert not (tmp_path / "mlflow.db").exists()  # the store named, not an empty new one
