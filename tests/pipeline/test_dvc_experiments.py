"""DVC experiments as users run them, on one real git + DVC repo of the tiny pipeline in
tmp_path with its own sqlite MLflow store (issue 13 items 1, 2 and 7 and its review defect 1;
issue 16 deliverable 5). Five executions, run once for the module:

1. ``dvc exp run -n base``                                  → trains everything
2. ``dvc exp run -n recall -S fusion.preset=fusion_high_recall``  → new fusion weights
3. ``dvc exp run -n base2 -S fusion.preset=fusion_balanced``      → base's weights, restored
   from DVC's run-cache: ``register`` must still run and move the alias back
4. ``dvc repro``                                            → nothing changed: a true no-op
5. ``dvc exp run --temp -S fusion.preset=fusion_high_recall``     → temp workspace, alias moves

Then: ``exp show`` leads with the committed headline, ``metrics diff`` of base and recall,
plots render offline, outputs restore from the cache; the registry alias follows every
execution; MLflow shows each execution as one parent run with its stage runs and datasets.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import cloned_project, sh

pytestmark = [pytest.mark.slow, pytest.mark.heavy]

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
    """Run the five steps in a clone-like copy (the real .gitignore, .dvc/config and offline
    plots template); after each: the command's output, the workspace's
    registered_model.json and the registry."""
    root = cloned_project(tmp_path_factory.mktemp("exps") / "proj")
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


TRACKS = ("transformer", "gnn", "fusion")
TRACK_KEYS = {"f1", "roc_auc", "pr_auc", "accuracy", "threshold", "ece", "brier", "temperature"}
TOP_KEYS = {*TRACKS, "targets_passed", "targets_total", "targets"}


@dataclass(frozen=True)
class Exps:
    root: Path
    base: str = "base"
    recall: str = "recall"

    @property
    def names(self) -> list[str]:
        return [self.base, self.recall]


@pytest.fixture(scope="module")
def two_exps(steps: dict[str, Any]) -> Exps:
    """The repo after the five steps, read for its ``base`` and ``recall`` experiments."""
    return Exps(steps["root"])


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _exp_rows(exps: Exps) -> dict[str, dict[str, Any]]:
    """name → the ``dvc exp show --json`` record of that experiment (rev + data)."""
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], exps.root).stdout)
    return {n["name"]: n for n in _walk(shown) if n.get("name") in exps.names and "data" in n}


def _committed(root: Path, rev: str, path: str) -> str:
    return sh(["git", "show", f"{rev}:{path}"], root).stdout


def _check_headline(m: dict[str, Any]) -> None:
    assert set(m) == TOP_KEYS, sorted(m)
    for t in TRACKS:
        assert set(m[t]) == TRACK_KEYS, (t, sorted(m[t]))
        assert all(math.isfinite(v) for v in m[t].values()), m[t]
        assert 0.0 <= m[t]["f1"] <= 1.0 and 0.0 <= m[t]["accuracy"] <= 1.0
    assert m["targets_total"] == 2 and m["targets_passed"] == sum(m["targets"].values())


def test_exp_show_leads_with_the_committed_headline(two_exps: Exps) -> None:
    rows = _exp_rows(two_exps)
    assert sorted(rows) == sorted(two_exps.names)
    for row in rows.values():
        metrics = row["data"]["metrics"]
        assert next(iter(metrics)) == "metrics.json", list(metrics)  # the first columns
        shown = metrics["metrics.json"]["data"]
        _check_headline(shown)
        # the experiment's own commit holds exactly the figures exp show reports
        assert json.loads(_committed(two_exps.root, row["rev"], "metrics.json")) == shown
        # per-seed detail is committed too (not `!`); DVC shows its numbers, not its lists
        seed0 = metrics["outputs/fusion/seed_0/metrics.json"]["data"]
        committed = json.loads(
            _committed(two_exps.root, row["rev"], "outputs/fusion/seed_0/metrics.json")
        )
        for key in ("f1_at_0_5", "f1_at_best_threshold", "best_threshold_by_f1"):
            assert seed0[key] == committed[key], key
        assert seed0["test"]["roc_auc"] == committed["test"]["roc_auc"]
    params = {
        n: r["data"]["params"]["params.yaml"]["data"]["fusion"]["preset"] for n, r in rows.items()
    }
    assert params["recall"] == "fusion_high_recall"
    assert params[two_exps.base] != "fusion_high_recall"


def test_metrics_diff_between_the_two_experiments(two_exps: Exps) -> None:
    rows, root, base = _exp_rows(two_exps), two_exps.root, two_exps.base
    files = {n: json.loads(_committed(root, r["rev"], "metrics.json")) for n, r in rows.items()}
    cmd = ["dvc", "metrics", "diff", base, "recall", "--all", "--json"]
    out = sh([*cmd, "--targets", "metrics.json"], root).stdout
    diff = json.loads(out)["metrics.json"]
    expected = {f"{t}.{k}" for t in TRACKS for k in TRACK_KEYS} | {
        "targets_passed",
        "targets_total",
        *(f"targets.{k}" for k in files[base]["targets"]),
    }
    assert set(diff) == expected
    for key, d in diff.items():
        old, new = files[base], files["recall"]
        for part in key.split("."):
            old, new = old[part], new[part]
        assert (d["old"], d["new"]) == (old, new), key
    # the human table names the fusion F1 row
    table = sh(["dvc", "metrics", "diff", base, "recall", "--all"], root).stdout
    assert "fusion.f1" in table


def test_plots_render_offline(two_exps: Exps) -> None:
    root = two_exps.root
    out = root.parent / "plots_html"
    sh(["dvc", "plots", "show", "-o", str(out)], root)
    html = (out / "index.html").read_text()
    assert not re.search(r"<script[^>]+src\s*=\s*[\"']?https?://", html)
    assert "cdn.jsdelivr" not in html
    assert "vegaEmbed" in html and html.count("<script>") >= 3  # inlined libraries
    for t in TRACKS:  # one seeds-overlaid chart per track, images of the figures
        assert f"valid_f1_{t}" in html
        assert f"outputs_{t}_ensemble_figures_confusion_matrix_at_best_threshold" in html or (
            f"{t}/ensemble/figures/confusion_matrix_at_best_threshold.png" in html
        )
    assert "fusion_vs_branches" in html
    diff_out = root.parent / "plots_diff"
    sh(["dvc", "plots", "diff", two_exps.base, "recall", "-o", str(diff_out)], root)
    assert "cdn.jsdelivr" not in (diff_out / "index.html").read_text()


def test_outputs_restore_after_deletion(two_exps: Exps) -> None:
    """Item 7: every output is restorable from the cache (no `cache: false` except metrics
    and plot data, which git holds)."""
    root = two_exps.root
    gone = [root / "outputs/gnn/manifests", root / "reports/comparison.json"]
    shutil.rmtree(gone[0])
    gone[1].unlink()
    sh(["dvc", "checkout"], root)
    assert all(p.exists() for p in gone)
    status = sh(["dvc", "status"], root).stdout
    assert status.strip() == "Data and pipelines are up to date.", status


def test_evaluation_run_nests_under_the_execution_that_built_the_model(
    steps: dict[str, Any],
) -> None:
    """`vulnfusion evaluate` of the registered model logs evaluate-<name> inside the pipeline
    run of the execution that trained the version (issue 16 deliverable 5)."""
    root = steps["root"]
    rows = [
        {"func": "int f(char *s)\n{\n    char b[8];\n    strcpy(b, s);\n    return 0;\n}\n"},
        {"func": "int g(int a)\n{\n    return a + 1;\n}\n"},
    ]
    data = root.parent / "eval.jsonl"
    data.write_text("".join(json.dumps({**r, "target": i % 2}) + "\n" for i, r in enumerate(rows)))
    reg = json.loads((root / "reports/registered_model.json").read_text())
    uri = f"models:/{MODEL}/{reg['version']}"  # the alias may have moved on since (temp)
    cmd = ["vulnfusion", "evaluate", str(data), "--model", uri, "--name", "nest"]
    sh([*cmd, "--n-boot", "100", "--no-progress", "-o", str(root.parent / "eval-out")], root)
    client = _client(root)
    (run,) = [r for r in _runs(root) if r.data.tags["mlflow.runName"] == "evaluate-nest"]
    assert run.data.tags["registered_model_version"] == reg["version"]
    pipeline = client.get_model_version(MODEL, reg["version"]).tags["pipeline_run_id"]
    assert run.data.tags["mlflow.parentRunId"] == run.data.tags["pipeline_run_id"] == pipeline
    parent = client.get_run(pipeline)
    assert parent.data.tags["run_key"] == "pipeline"
    assert parent.data.tags["mlflow.runName"].startswith("pipeline@")
