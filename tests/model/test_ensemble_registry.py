"""Aggregation, comparison and the registered pyfunc, on the tiny trained workspace."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_script
from vulnfusion.ensemble import AggregationError, load_seeds
from vulnfusion.features import load_features

KEYS = (
    "f1_at_0_5",
    "f1_at_best_threshold",
    "best_threshold_by_f1",
    "balanced_accuracy_at_best_threshold",
    "confusion_matrix_at_0_5",
    "confusion_matrix_at_best_threshold",
    "threshold_sweep",
    "test",
    "track",
    "seeds",
    "num_seeds",
    "per_seed_f1_at_best_threshold",
    "per_seed_mean_f1",
    "per_seed_std_f1",
    "ensemble_minus_best_seed_test_f1",
)


@pytest.mark.parametrize("track", ["transformer", "gnn", "fusion"])
def test_ensemble_metrics_have_every_key(trained_workspace: Path, track: str) -> None:
    m = json.loads((trained_workspace / f"outputs/{track}/ensemble_metrics.json").read_text())
    assert all(k in m for k in KEYS)
    assert m["num_seeds"] == 2 and len(m["threshold_sweep"]) == 41
    d = m["ensemble_minus_best_seed_test_f1"]
    assert d["low"] <= d["diff"] <= d["high"]


def test_ensemble_is_the_mean_of_seed_logits(trained_workspace: Path) -> None:
    ws = trained_workspace
    seeds = [
        json.loads((ws / f"outputs/gnn/seed_{s}/logits.json").read_text())["test"] for s in (0, 1)
    ]
    ens = json.loads((ws / "outputs/gnn/ensemble/logits.json").read_text())["test"]
    for k in list(ens)[:20]:
        assert ens[k] == pytest.approx((seeds[0][k] + seeds[1][k]) / 2, abs=1e-6)


def _copy_track(ws: Path, tmp: Path) -> Path:
    dst = tmp / "gnn"
    shutil.copytree(ws / "outputs/gnn", dst)
    return dst


def test_misaligned_ids_and_nan_are_errors(trained_workspace: Path, tmp_path: Path) -> None:
    feats = load_features(trained_workspace / "data/features")
    track = _copy_track(trained_workspace, tmp_path)
    p = track / "seed_1/logits.json"
    data = json.loads(p.read_text())
    data["valid"].pop(next(iter(data["valid"])))
    p.write_text(json.dumps(data))
    with pytest.raises(AggregationError, match=r"seed_1 \(valid\): example ids differ .*1 missing"):
        load_seeds(track, (0, 1), feats.splits)
    data = json.loads((trained_workspace / "outputs/gnn/seed_1/logits.json").read_text())
    data["test"][next(iter(data["test"]))] = float("nan")
    p.write_text(json.dumps(data).replace("NaN", "NaN"))
    with pytest.raises(AggregationError, match="1 logits are NaN"):
        load_seeds(track, (0, 1), feats.splits)
    with pytest.raises(AggregationError, match="seed 7 of"):
        load_seeds(track, (0, 7), feats.splits)


def test_recompute_matches_dumped_logits(trained_workspace: Path) -> None:
    from vulnfusion.runs.scoring import recompute_logits

    feats = load_features(trained_workspace / "data/features")
    for track in ("transformer", "gnn", "fusion"):
        seed_dir = trained_workspace / f"outputs/{track}/seed_0"
        again = recompute_logits(seed_dir, feats)["test"]
        dumped = json.loads((seed_dir / "logits.json").read_text())["test"]
        assert max(abs(again[k] - dumped[k]) for k in dumped) < 1e-4, track


def test_aggregate_cli_missing_seed_is_one_line(trained_workspace: Path, tmp_path: Path) -> None:
    track = _copy_track(trained_workspace, tmp_path)
    shutil.rmtree(track / "seed_1")
    res = run_script(
        "aggregate_seeds.py",
        "--track",
        "gnn",
        "--input-dir",
        str(track),
        "--output",
        str(tmp_path / "e.json"),
        "--features-dir",
        str(trained_workspace / "data/features"),
        cwd=trained_workspace,
    )
    assert res.returncode == 2
    assert "seed 1 of [0, 1] is missing" in res.stderr.strip().splitlines()[-1]


def test_comparison_reports_measured_targets(trained_workspace: Path) -> None:
    c = json.loads((trained_workspace / "reports/comparison.json").read_text())
    fusion = json.loads((trained_workspace / "outputs/fusion/ensemble_metrics.json").read_text())
    t = c["targets"]["ensemble_beats_best_seed_by_0_5pt"]
    assert t["measured"] == fusion["ensemble_minus_best_seed_test_f1"]["diff"]
    assert t["pass"] == (t["measured"] >= 0.005)
    for branch in ("transformer", "gnn"):  # fusion against each branch, not only the best
        d = c["fusion_vs_each_branch"][branch]
        assert d["f1"] == c["tracks"]["fusion"]["ensemble_f1"] - c["tracks"][branch]["ensemble_f1"]
        assert d["roc_auc"] == (
            c["tracks"]["fusion"]["ensemble_roc_auc"] - c["tracks"][branch]["ensemble_roc_auc"]
        )
    md = (trained_workspace / "reports/comparison.md").read_text()
    assert "| fusion minus | ΔF1 |" in md and "| transformer | " in md
    for name, target in c["targets"].items():  # each verdict as measured, in the table
        verdict = "PASS" if target["pass"] else "FAIL"
        assert f"| {name} | {target['measured']:+.4f} | {target['required']} | {verdict} |" in md
    assert (trained_workspace / "reports/plots/seed_vs_ensemble.png").exists()


@pytest.mark.parametrize(("passes", "alias"), [(True, "champion"), (False, "candidate")])
def test_alias_is_champion_exactly_when_both_targets_pass(
    trained_workspace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    passes: bool,
    alias: str,
) -> None:
    from mlflow import MlflowClient

    from vulnfusion.config import load_config
    from vulnfusion.registry import register_ensemble

    ws = trained_workspace
    comparison = json.loads((ws / "reports/comparison.json").read_text())
    for target in comparison["targets"].values():
        target["pass"] = passes
    comparison["all_targets_pass"] = passes
    (tmp_path / "comparison.json").write_text(json.dumps(comparison))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # a fresh store: version 1, this alias only
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    reg = register_ensemble(
        load_config(ws / "params.yaml"),
        ws / "outputs/fusion",
        ws / "data/features",
        tmp_path / "comparison.json",
        tmp_path / "registered.json",
        "test",
    )
    ens = json.loads((ws / "outputs/fusion/ensemble_metrics.json").read_text())
    assert (reg["alias"], reg["version"], reg["registry_uri"]) == (
        alias,
        "1",
        f"models:/vulnfusion-ensemble@{alias}",
    )
    assert reg["threshold"] == ens["best_threshold_by_f1"]
    version = MlflowClient(uri, uri).get_model_version_by_alias("vulnfusion-ensemble", alias)
    assert version.aliases == [alias]
    assert version.tags["all_targets_pass"] == str(passes)
    assert version.tags["test_f1"] == str(ens["test"]["at_valid_threshold"]["f1"])
    assert version.tags["test_roc_auc"] == str(ens["test"]["roc_auc"])
    assert f"→ alias '{alias}'" in (version.description or "")
    stats = json.loads((ws / "data/prepared/stats.json").read_text())
    assert {k: version.tags[k] for k in ("data_source", "data_path", "data_hash")} == {
        "data_source": "demo",
        "data_path": "demo",
        "data_hash": stats["data_hash"],
    }
    assert version.tags["split_strategy"] == stats["strategy"]
    assert version.tags["preset"] == "demo"
    assert (version.description or "").startswith("DEMO MODEL — trained on the synthetic")
    # the same weights again: no new version, the alias stays on version 1
    again = register_ensemble(
        load_config(ws / "params.yaml"),
        ws / "outputs/fusion",
        ws / "data/features",
        tmp_path / "comparison.json",
        tmp_path / "again.json",
        "test",
    )
    assert again["version"] == "1"
    client = MlflowClient(uri, uri)
    versions = client.search_model_versions("name = 'vulnfusion-ensemble'")
    assert [str(v.version) for v in versions] == ["1"]


def test_bundle_spec_holds_the_threshold_and_limits(
    trained_workspace: Path, tmp_path: Path
) -> None:
    from vulnfusion.config import load_config
    from vulnfusion.io import read_json
    from vulnfusion.registry import build_bundle
    from vulnfusion.serving import ServingSpec

    ws = trained_workspace
    cfg = load_config(ws / "params.yaml")
    ens = read_json(ws / "outputs/fusion/ensemble_metrics.json")
    bundle = build_bundle(cfg, ws / "outputs/fusion", ws / "data/features", ens, tmp_path / "b")
    spec = ServingSpec.from_json(bundle / "serving.json")
    assert spec == ServingSpec(
        threshold=ens["best_threshold_by_f1"],
        max_length=cfg.transformer.max_length,
        max_nodes=cfg.featurize.max_nodes,
        max_chars_parse=cfg.featurize.max_chars,
        max_input_chars=cfg.register.max_chars,
        max_rows=cfg.register.max_rows,
        seeds=(0, 1),
        test=ens["test"],
        temperature=ens["calibration"]["temperature"],
        threshold_policy=ens["threshold"],
    )


def test_registered_model_scores_raw_c_in_a_fresh_offline_process(trained_workspace: Path) -> None:
    """load_model("models:/vulnfusion-ensemble@<alias>") in a new process equals the ensemble."""
    ws = trained_workspace
    reg = json.loads((ws / "reports/registered_model.json").read_text())
    code = f"""
import json, sys, mlflow, pandas as pd
m = mlflow.pyfunc.load_model("{reg["registry_uri"]}")
rows = [json.loads(l) for l in open("{ws}/data/prepared/test.jsonl")]
out = m.predict(pd.DataFrame({{"func": [r["func"] for r in rows]}}))
json.dump({{"ids": [r["id"] for r in rows], "p": out["probability"].tolist(),
           "label": out["label"].tolist()}}, sys.stdout)
"""
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{ws / 'mlflow.db'}",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PATH": "/usr/bin:/bin",
    }
    res = subprocess.run(
        [sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout)
    ens = json.loads((ws / "outputs/fusion/ensemble/logits.json").read_text())["test"]
    t = json.loads((ws / "outputs/fusion/ensemble_metrics.json").read_text())["calibration"]
    # calibrated: sigmoid(mean logit / T), T fitted on valid by the aggregate stage
    ref = 1 / (1 + np.exp(-np.array([ens[i] for i in got["ids"]]) / t["temperature"]))
    np.testing.assert_allclose(got["p"], ref, atol=1e-5)
    thr = reg["threshold"]
    assert got["label"] == [int(p >= thr) for p in got["p"]]


def test_scorer_threads_and_batches_do_not_change_scores(
    trained_workspace: Path, tmp_path: Path
) -> None:
    """Batches scored on worker threads (single-threaded ops) = one thread, other batching."""
    from vulnfusion.config import load_config
    from vulnfusion.io import read_json, read_jsonl
    from vulnfusion.registry import build_bundle
    from vulnfusion.serving import EnsembleScorer

    ws = trained_workspace
    bundle = build_bundle(
        load_config(ws / "params.yaml"),
        ws / "outputs/fusion",
        ws / "data/features",
        read_json(ws / "outputs/fusion/ensemble_metrics.json"),
        tmp_path / "bundle",
    )
    funcs = [r["func"] for r in read_jsonl(ws / "data/prepared/test.jsonl")]
    serial = EnsembleScorer(bundle, batch_size=64, workers=1).logits(funcs)
    threaded = EnsembleScorer(bundle, batch_size=8, workers=2).logits(funcs)
    np.testing.assert_allclose(threaded, serial, atol=1e-5)
    ens = read_json(ws / "outputs/fusion/ensemble/logits.json")["test"]
    ids = [r["id"] for r in read_jsonl(ws / "data/prepared/test.jsonl")]
    np.testing.assert_allclose(threaded, [ens[i] for i in ids], atol=1e-4)


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        ({"code": ["int f(void) { return 0; }"]}, "func"),
        ({"func": [""]}, "row 0: 'func' is empty"),
        (
            {"func": ["int f(void) { return 0; }", "x" * 300_000]},
            "row 1: function has 300000 characters",
        ),
        ({"func": ["int f(void) {\x00}"]}, "row 0: binary content"),
        ({"func": ["#define MAX 16"]}, "row 0: no function body"),
    ],
)
def test_pyfunc_rejects_bad_input_clearly(
    trained_workspace: Path, frame: dict, fragment: str
) -> None:
    import mlflow
    import pandas as pd

    reg = json.loads((trained_workspace / "reports/registered_model.json").read_text())
    uri = f"sqlite:///{trained_workspace / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model = _load(reg["registry_uri"])
    with pytest.raises(Exception) as err:
        model.predict(pd.DataFrame(frame))
    assert fragment in str(err.value)


_CACHE: dict[str, object] = {}


def _load(uri: str):  # type: ignore[no-untyped-def]
    import mlflow

    if uri not in _CACHE:
        _CACHE[uri] = mlflow.pyfunc.load_model(uri)
    return _CACHE[uri]


def test_mlflow_runs_hold_params_tags_metrics_and_figures(trained_workspace: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{trained_workspace / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name("vulnfusion")
    # `vulnfusion evaluate` runs (tests/evaluate) share the store; the pipeline's are the rest
    found = [
        r
        for r in client.search_runs([exp.experiment_id])
        if not r.info.run_name.startswith("evaluate-")
    ]
    runs = {r.data.tags["run_key"]: r for r in found}
    assert {"transformer-seed0", "gnn-seed1", "fusion-seed0", "fusion-ensemble"} <= set(runs)
    for r in found:  # outside a DVC experiment: the run's short id tells runs apart
        assert r.info.run_name == f"{r.data.tags['run_key']}@{r.info.run_id[:8]}"
        assert r.data.tags["dvc_exp_name"] == "workspace"
        assert r.info.status == "FINISHED"
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    run = runs["gnn-seed0"]
    for tag in (
        "track",
        "seed",
        "preset",
        "dvc_stage",
        "git_commit",
        "data_hash",
        "degraded",
        "dvc_exp_name",
        "dvc_exp_baseline_rev",
    ):
        assert tag in run.data.tags
    assert run.data.params["gnn.train.epochs"] == "2"
    for key in ("f1_at_best_threshold", "test/roc_auc", "test/at_valid_threshold/f1"):
        assert key in run.data.metrics
    history = client.get_metric_history(run.info.run_id, "valid/f1")
    assert [m.step for m in history] == [1, 2]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    names |= {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert {
        "metrics.json",
        "threshold_sweep.json",
        "figures/threshold_curve.png",
        "figures/confusion_matrix_at_best_threshold.png",
    } <= names
    # same metric names in every per-seed run: side by side in the UI
    assert set(runs["gnn-seed0"].data.metrics) == set(runs["transformer-seed1"].data.metrics)
    version = client.get_model_version_by_alias(
        "vulnfusion-ensemble",
        json.loads((trained_workspace / "reports/registered_model.json").read_text())["alias"],
    )
    assert "test_f1" in version.tags and "threshold" in (version.description or "")
    # the model version belongs to the aggregate stage's fusion-ensemble run
    assert version.run_id == runs["fusion-ensemble"].info.run_id
    assert "f1_at_best_threshold" in runs["fusion-ensemble"].data.metrics
