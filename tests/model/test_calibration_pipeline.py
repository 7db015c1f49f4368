"""Calibration and threshold policies through the real pipeline (tiny trained workspace, real
MLflow sqlite store): the temperature is fitted on valid, every reported figure and the
registered model share the calibrated scale, and the served label follows the policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vulnfusion.calibration import (
    apply_temperature,
    brier_score,
    expected_calibration_error,
    fit_temperature,
)
from vulnfusion.features import load_features
from vulnfusion.metrics import binary_report, sigmoid

TRACKS = ("transformer", "gnn", "fusion")
SPLIT_KEYS = {"ece_before", "ece_after", "brier_before", "brier_after"}


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def _arrays(ws: Path, track: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], Any]:
    """Labels and raw ensemble mean logits per split, in the features' id order."""
    feats = load_features(ws / "data/features")
    logits = _read(ws / f"outputs/{track}/ensemble/logits.json")
    y = {s: feats.splits[s].arrays["labels"] for s in ("valid", "test")}
    z = {s: np.array([logits[s][i] for i in feats.splits[s].ids]) for s in ("valid", "test")}
    return y, z, feats


@pytest.mark.parametrize("track", TRACKS)
def test_calibration_block_is_fitted_on_valid_and_recorded(
    trained_workspace: Path, track: str
) -> None:
    ws = trained_workspace
    m = _read(ws / f"outputs/{track}/ensemble_metrics.json")
    cal = m["calibration"]
    assert set(cal) == {"method", "fitted_on", "temperature", "ece_bins", "valid", "test"}
    assert (cal["method"], cal["fitted_on"], cal["ece_bins"]) == ("temperature", "valid", 15)
    y, z, _ = _arrays(ws, track)
    # the temperature is the valid fit, to the last bit (test never enters it)
    assert cal["temperature"] == fit_temperature(y["valid"], z["valid"])
    for split in ("valid", "test"):
        assert set(cal[split]) == SPLIT_KEYS
        before, after = sigmoid(z[split]), apply_temperature(z[split], cal["temperature"])
        assert cal[split]["ece_before"] == pytest.approx(
            expected_calibration_error(y[split], before), abs=1e-12
        )
        assert cal[split]["ece_after"] == pytest.approx(
            expected_calibration_error(y[split], after), abs=1e-12
        )
        assert cal[split]["brier_after"] == pytest.approx(brier_score(y[split], after), abs=1e-12)
    # NLL on valid is what T minimises: valid Brier cannot get much worse
    assert cal["valid"]["brier_after"] <= cal["valid"]["brier_before"] + 1e-3


def test_temperature_lowers_ece_of_an_over_confident_ensemble() -> None:
    """A deliberately over-confident two-seed ensemble through the real aggregate code: labels
    drawn from sigmoid(z), the seeds emit 4·z (± a little noise each). The tiny workspace's
    16-function splits are too small for a 15-bin ECE, so the splits here hold 4,000 each.
    T comes back ≈ 4 and ECE drops from ~0.15 to the noise floor, on valid and on test."""
    from vulnfusion.ensemble import SeedLogits, aggregate
    from vulnfusion.features import SplitFeatures

    rng = np.random.default_rng(0)
    splits, logits = {}, {}
    for split in ("valid", "test"):
        z = rng.normal(0.0, 1.5, 4000)
        y = (rng.random(z.size) < sigmoid(z)).astype(np.int64)
        splits[split] = SplitFeatures([f"{split}{i}" for i in range(z.size)], {"labels": y})
        logits[split] = 4.0 * z
    seeds = [
        SeedLogits(s, {k: v + rng.normal(0.0, 0.1, v.size) for k, v in logits.items()}, {})
        for s in (0, 1)
    ]
    metrics, _ = aggregate("fusion", seeds, splits, 20, 0)
    cal = metrics["calibration"]
    assert cal["temperature"] == pytest.approx(4.0, rel=0.1)
    for split in ("valid", "test"):
        assert cal[split]["ece_before"] > 0.1, cal
        assert cal[split]["ece_after"] < 0.03, cal
        assert cal[split]["brier_after"] < cal[split]["brier_before"]


@pytest.mark.parametrize("track", TRACKS)
def test_reported_figures_are_on_the_calibrated_scale(trained_workspace: Path, track: str) -> None:
    ws = trained_workspace
    m = _read(ws / f"outputs/{track}/ensemble_metrics.json")
    y, z, feats = _arrays(ws, track)
    temp = m["calibration"]["temperature"]
    probs = _read(ws / f"outputs/{track}/ensemble/probabilities.json")
    for split in ("valid", "test"):
        got = np.array([probs[split][i] for i in feats.splits[split].ids])
        np.testing.assert_allclose(got, sigmoid(z[split] / temp), rtol=0, atol=1e-12)
    p_test = np.array([probs["test"][i] for i in feats.splits["test"].ids])
    thr = m["threshold"]
    assert set(thr) == {"policy", "target", "value", "policy_met", "valid_fpr", "valid_recall"}
    assert (thr["policy"], thr["target"], thr["policy_met"]) == ("max_f1", None, True)
    assert thr["value"] == m["best_threshold_by_f1"]  # max_f1: today's choice, calibrated
    assert m["test"]["at_valid_threshold"] == binary_report(y["test"], p_test, thr["value"])
    assert m["test"]["at_0_5"] == binary_report(y["test"], p_test, 0.5)


def _model(ws: Path) -> Any:
    import mlflow

    uri = f"sqlite:///{ws / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    reg = _read(ws / "reports/registered_model.json")
    return mlflow.pyfunc.load_model(reg["registry_uri"]), reg


def test_registered_model_returns_calibrated_probabilities(trained_workspace: Path) -> None:
    """pyfunc.predict = sigmoid(mean_logit / T) = the aggregate's stored test probabilities,
    and its label = probability >= the threshold the aggregate reported."""
    import pandas as pd
    from mlflow import MlflowClient

    ws = trained_workspace
    model, reg = _model(ws)
    rows = [json.loads(line) for line in (ws / "data/prepared/test.jsonl").open()]
    out = model.predict(pd.DataFrame({"func": [r["func"] for r in rows]}))
    m = _read(ws / "outputs/fusion/ensemble_metrics.json")
    stored = _read(ws / "outputs/fusion/ensemble/probabilities.json")["test"]
    expected = np.array([stored[r["id"]] for r in rows])
    np.testing.assert_allclose(out["probability"].to_numpy(), expected, rtol=0, atol=1e-5)
    thr = m["threshold"]["value"]
    assert out["label"].tolist() == [int(p >= thr) for p in out["probability"]]
    # the test figures of the aggregate, reproduced from the served outputs
    y = np.array([r["target"] for r in rows])
    served = binary_report(y, out["probability"].to_numpy(), thr)
    for key in ("tp", "fp", "tn", "fn"):
        assert served[key] == m["test"]["at_valid_threshold"][key]
    assert (reg["temperature"], reg["threshold"]) == (m["calibration"]["temperature"], thr)
    assert reg["threshold_policy"]["policy"] == "max_f1"
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}", f"sqlite:///{ws / 'mlflow.db'}")
    version = client.get_model_version_by_alias("vulnfusion-ensemble", reg["alias"])
    assert version.tags["threshold_policy"] == "max_f1"
    assert version.tags["threshold_target"] == "None"
    assert version.tags["threshold_policy_met"] == "True"
    assert version.tags["temperature"] == str(m["calibration"]["temperature"])
    assert version.tags["test_ece"] == str(m["calibration"]["test"]["ece_after"])
    assert "chosen on valid by policy max_f1" in (version.description or "")


def test_comparison_shows_test_ece_and_brier_before_and_after(trained_workspace: Path) -> None:
    ws = trained_workspace
    c = _read(ws / "reports/comparison.json")
    md = (ws / "reports/comparison.md").read_text()
    assert "| track | T | test ECE before → after | test Brier before → after |" in md
    for track in TRACKS:
        cal = _read(ws / f"outputs/{track}/ensemble_metrics.json")["calibration"]
        row = c["tracks"][track]
        assert row["temperature"] == cal["temperature"]
        for k in SPLIT_KEYS:
            assert row[f"test_{k}"] == cal["test"][k]
        t = cal["test"]
        assert (
            f"| {track} | {cal['temperature']:.3f} | {t['ece_before']:.4f} → "
            f"{t['ece_after']:.4f} | {t['brier_before']:.4f} → {t['brier_after']:.4f} |"
        ) in md


def _aggregate_with(ws: Path, policy: str, target: float) -> dict[str, Any]:
    from vulnfusion.ensemble import aggregate, load_seeds

    feats = load_features(ws / "data/features")
    seeds = load_seeds(ws / "outputs/fusion", (0, 1), feats.splits)
    metrics, _ = aggregate("fusion", seeds, feats.splits, 50, 0, policy, target)
    return metrics


def test_target_recall_policy_sets_the_served_threshold_and_label(
    trained_workspace: Path, tmp_path: Path
) -> None:
    """target_recall on the real fusion ensemble: the threshold is the hand rule on the valid
    probabilities, the test figures are measured at it, and the scorer's label follows it."""
    import math

    from vulnfusion.config import load_config
    from vulnfusion.io import read_jsonl
    from vulnfusion.registry import build_bundle, version_tags
    from vulnfusion.serving import EnsembleScorer

    ws = trained_workspace
    m = _aggregate_with(ws, "target_recall", 0.95)
    feats = load_features(ws / "data/features")
    probs = _read(ws / "outputs/fusion/ensemble/probabilities.json")
    yv = feats.splits["valid"].arrays["labels"]
    pv = np.array([probs["valid"][i] for i in feats.splits["valid"].ids])
    pos = np.sort(pv[yv == 1])[::-1]
    expected = pos[math.ceil(0.95 * pos.size) - 1]  # the hand rule: k-th highest positive
    thr = m["threshold"]
    assert (thr["policy"], thr["target"], thr["policy_met"]) == ("target_recall", 0.95, True)
    assert thr["value"] == pytest.approx(expected, abs=1e-12)
    assert thr["valid_recall"] >= 0.95
    yt = feats.splits["test"].arrays["labels"]
    pt = np.array([probs["test"][i] for i in feats.splits["test"].ids])
    assert m["test"]["at_valid_threshold"] == binary_report(yt, pt, thr["value"])
    # the registered model's spec and tags say which policy produced the threshold
    cfg = load_config(ws / "params.yaml")
    bundle = build_bundle(cfg, ws / "outputs/fusion", ws / "data/features", m, tmp_path / "b")
    scorer = EnsembleScorer(bundle, workers=1)
    assert scorer.spec.threshold == thr["value"]
    assert scorer.spec.threshold_policy == thr
    assert scorer.spec.temperature == m["calibration"]["temperature"]
    rows = list(read_jsonl(ws / "data/prepared/test.jsonl"))
    prob, label = scorer.score([r["func"] for r in rows])
    np.testing.assert_allclose(prob, [probs["test"][r["id"]] for r in rows], atol=1e-5)
    assert label.tolist() == [int(p >= thr["value"]) for p in prob]
    comparison = {"all_targets_pass": False, "targets": {}}
    tags = version_tags(m, comparison, {"data_path": "demo", "split_strategy": "x"}, "d")
    assert (tags["threshold_policy"], tags["threshold_target"]) == ("target_recall", "0.95")
    assert tags["threshold"] == str(thr["value"])


def test_target_fpr_policy_matches_a_brute_force_search(trained_workspace: Path) -> None:
    """Every distinct valid score as a threshold: the most recall with FPR <= 0.1, and among
    those the highest threshold (fewest false positives)."""
    ws = trained_workspace
    m = _aggregate_with(ws, "target_fpr", 0.1)
    feats = load_features(ws / "data/features")
    probs = _read(ws / "outputs/fusion/ensemble/probabilities.json")
    y = feats.splits["valid"].arrays["labels"]
    p = np.array([probs["valid"][i] for i in feats.splits["valid"].ids])
    feasible = []
    for t in np.unique(p):
        fpr = ((p >= t) & (y == 0)).sum() / (y == 0).sum()
        recall = ((p >= t) & (y == 1)).sum() / (y == 1).sum()
        if fpr <= 0.1 and recall > 0:
            feasible.append((recall, t))
    assert feasible, "the tiny ensemble reaches some recall at FPR <= 0.1"
    recall, expected = max(feasible)
    thr = m["threshold"]
    assert (thr["policy"], thr["target"], thr["policy_met"]) == ("target_fpr", 0.1, True)
    assert thr["value"] == pytest.approx(expected, abs=1e-12)
    assert thr["valid_recall"] == pytest.approx(recall) and thr["valid_fpr"] <= 0.1


def test_register_refuses_metrics_chosen_by_another_policy(trained_workspace: Path) -> None:
    from vulnfusion.config import load_config
    from vulnfusion.registry import StalePolicyError, check_threshold_policy

    ws = trained_workspace
    m = _aggregate_with(ws, "target_recall", 0.95)
    cfg = load_config(ws / "params.yaml")  # max_f1, as the workspace was aggregated
    check_threshold_policy(cfg, _read(ws / "outputs/fusion/ensemble_metrics.json"), ws)
    with pytest.raises(StalePolicyError) as err:
        check_threshold_policy(cfg, m, Path("ensemble_metrics.json"))
    assert str(err.value) == (
        "ensemble_metrics.json: threshold chosen by policy target_recall (target 0.95) but "
        "register.threshold_policy is max_f1 (target None); rerun the aggregate stage (dvc repro)"
    )
    fresh = load_config(
        ws / "params.yaml",
        ["register.threshold_policy=target_recall", "register.threshold_target=0.95"],
    )
    check_threshold_policy(fresh, m, Path("ensemble_metrics.json"))
