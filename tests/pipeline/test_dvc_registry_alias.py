"""The registry alias follows the DVC execution that just ran, and MLflow shows each execution
as one parent run with its stage runs and datasets (issue 13 review defect 1, issue 16
deliverable 5). Real DVC in a git repo in tmp_path, its own sqlite MLflow store:

1. ``dvc exp run -n base``                                  → trains everything
2. ``dvc exp run -n recall -S fusion.preset=fusion_high_recall``  → new fusion weights
3. ``dvc exp run -n base2 -S fusion.preset=fusion_balanced``      → base's weights, restored
   from DVC's run-cache: ``register`` must still run and move the alias back
4. ``dvc repro``                                            → nothing changed: a true no-op
5. ``dvc exp run --temp -S fusion.preset=fusion_high_recall``     → temp workspace, alias moves
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import dvc_project, sh

pytestmark = pytest.mark.slow

MODEL = "vulnfusion-ensemble"
STEPS = {
    "base": ["dvc", "exp", "run", "-n", "base"],
    "recall": ["dvc", "exp", "run", "-n", "recall", "-S", "fusion.preset=fusion_high_recall"],
    "base2": ["dvc", "exp", "run", "-n", "base2", "-S", "fusion.preset=fusion_balanced"],
    "repro": ["dvc", "repro"],
    "temp": ["dvc", "exp", "run", "--temp", "-n", "temp", "-S", "fusion.preset=fusion_high_recall"],
}


def _client(root: Path) -> Any:
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _registry(root: Path) -> dict[str, Any]:
    """alias → version and the list of versions, read from the store."""
    client = _client(root)
    model = client.get_registered_model(MODEL)
    versions = client.search_model_versions(f"name = '{MODEL}'")
    return {"aliases": dict(model.aliases), "versions": sorted(int(v.version) for v in versions)}


def _exp_registered_model(root: Path, name: str) -> dict[str, Any]:
    """reports/registered_model.json as experiment ``name`` committed it (lock → DVC cache)."""
    # experiment refs live under refs/exps/<baseline>/<name>
    refs = sh(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], root).stdout.split()
    (ref,) = [r for r in refs if r.endswith(f"/{name}")]
    lock = yaml.safe_load(sh(["git", "show", f"{ref}:dvc.lock"], root).stdout)
    (out,) = lock["stages"]["register"]["outs"]
    md5 = out["md5"]
    return json.loads((root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).read_text())


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the five steps; after each: the command's output, the workspace's
    registered_model.json and the registry."""
    root = dvc_project(tmp_path_factory.mktemp("alias") / "proj")
    state: dict[str, Any] = {"root": root}
    for name, cmd in STEPS.items():
        res = sh(cmd, root, timeout=1800)
        state[name] = {
            "out": res.stdout + res.stderr,
            "registered": json.loads((root / "reports/registered_model.json").read_text()),
            "registry": _registry(root),
        }
    state["temp"]["registered"] = _exp_registered_model(root, "temp")
    return state


def _points_at_its_version(step: dict[str, Any]) -> str:
    reg = step["registered"]
    assert str(step["registry"]["aliases"][reg["alias"]]) == reg["version"], step["registry"]
    return str(reg["version"])


def test_alias_follows_every_execution(steps: dict[str, Any]) -> None:
    v_base = _points_at_its_version(steps["base"])
    v_recall = _points_at_its_version(steps["recall"])
    assert v_recall != v_base  # other weights, another version
    # base2 got base's fusion weights back from the run-cache; register ran anyway
    assert "Stage 'train_fusion@0' is cached - skipping run" in steps["base2"]["out"]
    assert "Running stage 'register'" in steps["base2"]["out"]
    assert _points_at_its_version(steps["base2"]) == v_base
    # the --temp experiment: its own registered_model.json and the alias agree
    assert _points_at_its_version(steps["temp"]) == v_recall
    # same weights never make a new version
    assert steps["temp"]["registry"]["versions"] == [int(v_base), int(v_recall)]
    # the last execution that pointed an alias at a version tagged it (base2 and temp did);
    # the provenance stays that of the execution that registered it (base, recall)
    client = _client(steps["root"])
    tags = {v: client.get_model_version(MODEL, v).tags for v in (v_base, v_recall)}
    assert {v: t["last_aliased_by"] for v, t in tags.items()} == {v_base: "base2", v_recall: "temp"}
    assert {v: t["dvc_exp_name"] for v, t in tags.items()} == {v_base: "base", v_recall: "recall"}


def test_second_repro_with_nothing_changed_is_a_no_op(steps: dict[str, Any]) -> None:
    out = steps["repro"]["out"]
    assert "Running stage" not in out and "Stage 'register' didn't change" in out, out
    assert steps["repro"]["registry"] == steps["base2"]["registry"]
    assert steps["repro"]["registered"] == steps["base2"]["registered"]


def _runs(root: Path) -> list[Any]:
    client = _client(root)
    exp = client.get_experiment_by_name("vulnfusion")
    return list(client.search_runs([exp.experiment_id], max_results=1000))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:32]


def test_one_parent_run_per_execution_with_its_stage_runs_nested(steps: dict[str, Any]) -> None:
    root = steps["root"]
    runs = _runs(root)
    name = {r.info.run_id: r.data.tags["mlflow.runName"] for r in runs}
    parents = {r.data.tags["dvc_exp_name"]: r for r in runs if r.data.tags["run_key"] == "pipeline"}
    # base trained every stage, recall the fusion ones; base2 and temp only re-pointed the
    # alias (register logs no run of its own when the ensemble run exists)
    assert sorted(parents) == ["base", "recall"]
    children: dict[str, list[str]] = {"base": [], "recall": []}
    for r in runs:
        parent = r.data.tags.get("mlflow.parentRunId")
        if r.data.tags["run_key"] != "pipeline":
            assert parent, f"{name[r.info.run_id]} is not nested"
            children[name[parent].split("@", 1)[1]].append(name[r.info.run_id])
    assert name[parents["base"].info.run_id] == "pipeline@base"
    assert sorted(children["base"]) == sorted(
        [f"{t}-seed{s}@base" for t in ("transformer", "gnn", "fusion") for s in (0, 1)]
        + [f"{t}-ensemble@base" for t in ("transformer", "gnn", "fusion")]
    )
    assert sorted(children["recall"]) == sorted(
        ["fusion-seed0@recall", "fusion-seed1@recall", "fusion-ensemble@recall"]
    )
    # every stage run logged the prepared splits it was computed from, with their digests
    expected = {
        (f"demo-{s}", _digest(root / f"data/prepared/{s}.jsonl"), c)
        for s, c in (("train", "training"), ("valid", "validation"), ("test", "testing"))
    }
    for r in runs:
        if r.data.tags["run_key"] == "pipeline":
            continue
        got = {
            (
                di.dataset.name,
                di.dataset.digest,
                {t.key: t.value for t in di.tags}["mlflow.data.context"],
            )
            for di in r.inputs.dataset_inputs
        }
        assert got == expected, name[r.info.run_id]


def test_model_version_links_to_its_runs_and_datasets(steps: dict[str, Any]) -> None:
    root = steps["root"]
    client = _client(root)
    runs = {r.data.tags["mlflow.runName"]: r for r in _runs(root)}
    train = _digest(root / "data/prepared/train.jsonl")
    for exp in ("base", "recall"):
        version = steps[exp]["registered"]["version"]
        tags = client.get_model_version(MODEL, version).tags
        ensemble = runs[f"fusion-ensemble@{exp}"]
        assert tags["source_run_id"] == ensemble.info.run_id
        assert tags["pipeline_run_id"] == runs[f"pipeline@{exp}"].info.run_id
        assert tags["dataset/training"] == f"demo-train@{train}"
        assert set(tags) >= {"dataset/validation", "dataset/testing"}
