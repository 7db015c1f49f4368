"""Metrics contract: parity with scikit-learn, sweep/threshold rules, bootstrap, errors."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from vulnfusion import metrics as m

SEEDS = (0, 1, 2)
BALANCES = (0.1, 0.35, 0.5, 0.8)
THRESHOLD_KEYS = ("accuracy", "precision", "recall", "f1", "balanced_accuracy")


def _logit(p: np.ndarray | float) -> Any:
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


def _make(seed: int, pos_rate: float, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Labels plus informative logits; a third of the probabilities are rounded to 2 decimals
    so that ties and probabilities exactly equal to sweep thresholds are exercised."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pos_rate).astype(np.int64)
    y[:2] = [0, 1]  # both classes present whatever the draw
    prob = m.sigmoid(rng.normal(size=n) + 1.3 * y - 0.3)
    prob[: n // 3] = np.clip(np.round(prob[: n // 3], 2), 0.01, 0.99)
    return y, _logit(prob)


def _sk(y: np.ndarray, prob: np.ndarray, t: float) -> dict[str, Any]:
    pred = (prob >= t).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred, zero_division=0),
        "recall": recall_score(y, pred, zero_division=0),
        "f1": f1_score(y, pred, zero_division=0),
        "balanced_accuracy": balanced_accuracy_score(y, pred),
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
        "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
    }  # fmt: skip


def _assert_matches(ours: dict[str, Any], ref: dict[str, Any], where: str) -> None:
    for key in THRESHOLD_KEYS:
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), f"{where}: {key}"
    for key in ("tp", "fp", "tn", "fn"):
        assert ours[key] == ref[key], f"{where}: {key}"
    if "confusion_matrix" in ours:
        assert ours["confusion_matrix"] == ref["confusion_matrix"], where


def _leaves(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return [leaf for v in obj.values() for leaf in _leaves(v)]
    if isinstance(obj, list):
        return [leaf for v in obj for leaf in _leaves(v)]
    return [obj]


# ------------------------------------------------------------------------ sweep & sigmoid


def test_sweep_thresholds_are_41_exact_rounded_points() -> None:
    assert m.SWEEP_THRESHOLDS.shape == (41,)
    expected = [round(0.30 + 0.01 * k, 2) for k in range(41)]
    assert m.SWEEP_THRESHOLDS.tolist() == expected
    assert m.SWEEP_THRESHOLDS[0] == 0.3 and m.SWEEP_THRESHOLDS[-1] == 0.7
    assert m.SWEEP_THRESHOLDS[20] == 0.5
    y, z = _make(0, 0.4)
    sweep = m.threshold_sweep(y, m.sigmoid(z))
    assert [row["threshold"] for row in sweep] == expected
    needed = {"threshold", "precision", "recall", "f1", "balanced_accuracy", "tp", "fp", "tn", "fn"}
    assert all(needed <= row.keys() for row in sweep)


@pytest.mark.filterwarnings("error")
def test_sigmoid_is_stable_and_correct() -> None:
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0, -np.inf, np.inf])
    s = m.sigmoid(x)
    assert s.dtype == np.float64
    assert s[3] == 0.5 and s[0] == 0.0 and s[-1] == 1.0 and s[-2] == 0.0
    mid = np.array([-5.0, -1.0, 0.3, 4.0])
    np.testing.assert_allclose(m.sigmoid(mid), 1 / (1 + np.exp(-mid)), rtol=1e-15)
    assert m.sigmoid([0.0, 2.0]).tolist() == pytest.approx([0.5, 1 / (1 + np.exp(-2.0))])


def test_prediction_is_positive_at_exactly_the_threshold() -> None:
    c = m.confusion([1, 0, 1, 0], [0.5, 0.5, 0.49, 0.2], 0.5)
    assert c == {"tp": 1, "fp": 1, "tn": 1, "fn": 1}


# ------------------------------------------------------------------------ sklearn parity


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("pos_rate", BALANCES)
def test_every_sweep_point_matches_sklearn(seed: int, pos_rate: float) -> None:
    y, z = _make(seed, pos_rate)
    prob = m.sigmoid(z)
    sweep = m.threshold_sweep(y, prob)
    assert len(sweep) == 41
    for row in sweep:
        _assert_matches(row, _sk(y, prob, row["threshold"]), f"t={row['threshold']}")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("pos_rate", BALANCES)
def test_evaluation_report_matches_sklearn(seed: int, pos_rate: float) -> None:
    vy, vz = _make(seed, pos_rate)
    ty, tz = _make(seed + 100, pos_rate, n=300)
    vp, tp = m.sigmoid(vz), m.sigmoid(tz)
    out = m.evaluation_report(vy, vz, ty, tz)
    best = out["best_threshold_by_f1"]
    sk_half, sk_best = _sk(vy, vp, 0.5), _sk(vy, vp, best)
    assert out["f1_at_0_5"] == pytest.approx(sk_half["f1"], abs=1e-12)
    assert out["f1_at_best_threshold"] == pytest.approx(sk_best["f1"], abs=1e-12)
    assert out["f1_at_best_threshold"] == max(r["f1"] for r in out["threshold_sweep"])
    ba = sk_best["balanced_accuracy"]
    assert out["balanced_accuracy_at_best_threshold"] == pytest.approx(ba, abs=1e-12)
    assert out["confusion_matrix_at_0_5"] == sk_half["confusion_matrix"]
    assert out["confusion_matrix_at_best_threshold"] == sk_best["confusion_matrix"]
    # Each point of this sweep is checked against sklearn in test_every_sweep_point_...
    assert out["threshold_sweep"] == m.threshold_sweep(vy, vp)
    test = out["test"]
    assert test["roc_auc"] == pytest.approx(roc_auc_score(ty, tp), abs=1e-12)
    assert test["pr_auc"] == pytest.approx(average_precision_score(ty, tp), abs=1e-12)
    _assert_matches(test["at_0_5"], _sk(ty, tp, 0.5), "test@0.5")
    _assert_matches(test["at_valid_threshold"], _sk(ty, tp, best), "test@valid")
    assert test["at_0_5"]["threshold"] == 0.5
    assert test["at_valid_threshold"]["threshold"] == best
    assert out["valid"]["roc_auc"] == pytest.approx(roc_auc_score(vy, vp), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("decimals", [None, 1, 2])
def test_ranking_metrics_match_sklearn_with_ties(seed: int, decimals: int | None) -> None:
    y, z = _make(seed, 0.3, n=500)
    prob = m.sigmoid(z)
    if decimals is not None:  # heavy ties: few distinct scores
        prob = np.round(prob, decimals)
    assert m.roc_auc(y, prob) == pytest.approx(roc_auc_score(y, prob), abs=1e-12)
    assert m.pr_auc(y, prob) == pytest.approx(average_precision_score(y, prob), abs=1e-12)


@pytest.mark.parametrize("t", [0.0, 0.3, 0.5, 0.71, 1.0])
def test_binary_report_matches_sklearn_and_accepts_lists(t: float) -> None:
    y, z = _make(3, 0.4, n=200)
    prob = m.sigmoid(z)
    report = m.binary_report(y.tolist(), prob.tolist(), t)
    _assert_matches(report, _sk(y, prob, t), f"t={t}")
    assert report["threshold"] == t


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("only", [0, 1])
def test_single_class_split_gives_none_aucs_without_warnings(only: int) -> None:
    rng = np.random.default_rng(0)
    y = np.full(50, only)
    z = rng.normal(size=50)
    out = m.evaluation_report(y, z, y, z)
    assert out["test"]["roc_auc"] is None and out["test"]["pr_auc"] is None
    assert out["valid"]["roc_auc"] is None
    prob = m.sigmoid(z)
    for row in out["threshold_sweep"]:
        # balanced accuracy over the one class present, as sklearn (which warns; we don't).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = _sk(y, prob, row["threshold"])
        _assert_matches(row, ref, f"t={row['threshold']}")
    if only == 0:  # F1 is 0 everywhere, so the tie rule lands on 0.5
        assert out["best_threshold_by_f1"] == 0.5


@pytest.mark.filterwarnings("error")
def test_no_predicted_positives_gives_zero_precision() -> None:
    report = m.binary_report([0, 1, 1], [0.1, 0.2, 0.3], 0.9)
    assert report["precision"] == 0.0 and report["recall"] == 0.0 and report["f1"] == 0.0
    assert report["confusion_matrix"] == [[1, 0], [2, 0]]


# ------------------------------------------------------------------------ threshold choice


def _rows(pairs: list[tuple[float, float]]) -> list[dict[str, float]]:
    return [{"threshold": t, "f1": f} for t, f in pairs]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([(0.3, 0.2), (0.6, 0.9), (0.5, 0.8)], 0.6),  # strict max wins over closeness
        ([(0.45, 0.7), (0.55, 0.7), (0.6, 0.1)], 0.45),  # equally close -> lower
        ([(0.55, 0.7), (0.45, 0.7)], 0.45),  # order of rows does not matter
        ([(0.3, 0.7), (0.53, 0.7), (0.44, 0.7)], 0.53),  # closest to 0.5
        ([(0.49, 0.7), (0.51, 0.7), (0.5, 0.7)], 0.5),
        ([(0.49, 0.7), (0.51, 0.7)], 0.49),  # float distances 0.01 vs 0.01 are equal
    ],
)
def test_best_threshold_max_f1_and_tie_rule(
    pairs: list[tuple[float, float]], expected: float
) -> None:
    assert m.best_threshold(_rows(pairs)) == expected


def test_best_threshold_on_real_sweep_is_the_argmax() -> None:
    y, z = _make(5, 0.3, n=1000)
    sweep = m.threshold_sweep(y, m.sigmoid(z))
    best = m.best_threshold(sweep)
    top = max(r["f1"] for r in sweep)
    winners = [r["threshold"] for r in sweep if r["f1"] == top]
    assert best in winners
    assert best == min(winners, key=lambda t: (round(abs(t - 0.5), 9), t))


def test_test_block_uses_the_valid_threshold() -> None:
    # valid separates at 0.64 | 0.66 -> best 0.65; test separates at 0.35 | 0.40 -> its own
    # best would be 0.40. The test block must report test at 0.65, chosen on valid.
    vy = np.array([0] * 20 + [1] * 10)
    vz = _logit(np.array([0.64] * 20 + [0.66] * 10))
    ty = np.array([0] * 15 + [1] * 15)
    tz = _logit(np.array([0.35] * 15 + [0.40] * 15))
    out = m.evaluation_report(vy, vz, ty, tz)
    assert out["best_threshold_by_f1"] == 0.65
    assert m.best_threshold(m.threshold_sweep(ty, m.sigmoid(tz))) == 0.4
    at_valid = out["test"]["at_valid_threshold"]
    assert at_valid["threshold"] == 0.65
    assert at_valid == m.binary_report(ty, m.sigmoid(tz), 0.65)
    assert at_valid["f1"] == 0.0 and out["test"]["at_0_5"]["f1"] == 0.0
    # The test data never moves the chosen threshold.
    flipped = m.evaluation_report(vy, vz, 1 - ty, tz)
    assert flipped["best_threshold_by_f1"] == 0.65


def test_output_is_plain_json() -> None:
    vy, vz = _make(0, 0.3)
    ty, tz = _make(1, 0.3)
    out = m.evaluation_report(vy, vz, ty, tz)
    for leaf in _leaves(out):
        assert type(leaf) in (float, int, type(None)), type(leaf)  # no numpy scalars
    assert json.loads(json.dumps(out)) == out
    required = {
        "f1_at_0_5", "f1_at_best_threshold", "best_threshold_by_f1",
        "balanced_accuracy_at_best_threshold", "confusion_matrix_at_0_5",
        "confusion_matrix_at_best_threshold", "threshold_sweep", "test",
    }  # fmt: skip
    assert required <= out.keys()
    for block in ("at_0_5", "at_valid_threshold"):
        assert {*THRESHOLD_KEYS, "confusion_matrix", "threshold"} <= out["test"][block].keys()


# ------------------------------------------------------------------------ errors


def _ok() -> dict[str, Any]:
    y, z = _make(0, 0.4, n=20)
    return {"valid_y": y, "valid_logits": z, "test_y": y, "test_logits": z}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"valid_y": [0, 2] * 10}, r"valid_y must hold 0/1 labels; got 10 others"),
        ({"test_y": ["a", "b"] * 10}, r"test_y must hold 0/1 labels"),
        ({"valid_logits": [np.nan, 1.0, np.inf] + [0.0] * 17}, r"valid_logits: 2 of 20 .*NaN"),
        ({"test_logits": [np.nan] * 20}, r"test_logits: 20 of 20"),
        ({"test_logits": [0.0] * 19}, r"length mismatch: test_y has 20 values, test_logits has 19"),
        ({"valid_y": [], "valid_logits": []}, r"valid_y is empty"),
        ({"valid_logits": np.zeros((20, 1))}, r"must be 1-D"),
    ],
)
def test_evaluation_report_rejects_bad_input(change: dict[str, Any], match: str) -> None:
    kwargs = _ok() | change
    with pytest.raises(ValueError, match=match) as info:
        m.evaluation_report(**kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: m.confusion([0, 1], [0.2], 0.5), r"length mismatch"),
        (lambda: m.binary_report([0, 1], [0.2, 3.0], 0.5), r"outside \[0, 1\]"),
        (lambda: m.binary_report([0, 1], [0.2, 0.3], 1.5), r"threshold must be"),
        (lambda: m.threshold_sweep([], []), r"empty"),
        (lambda: m.best_threshold([]), r"sweep is empty"),
        (lambda: m.bootstrap_ci([0, 1], [0.2, 0.3], 0.5, "auc"), r"unknown metric 'auc'"),
        (lambda: m.bootstrap_ci([0, 1], [0.2, np.nan], 0.5, "f1"), r"prob: 1 of 2"),
        (lambda: m.paired_bootstrap_diff([0, 1], [0.1, 0.2], 0.5, [0.1], 0.5), r"length"),
        (lambda: m.roc_auc([0, 1, 0.5], [0.1, 0.2, 0.3]), r"0/1 labels"),
    ],
)
def test_public_functions_reject_bad_input(call: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_boolean_and_float_labels_are_accepted() -> None:
    prob = [0.2, 0.7, 0.6]
    as_int = m.binary_report([0, 1, 0], prob, 0.5)
    assert m.binary_report([False, True, False], prob, 0.5) == as_int
    assert m.binary_report([0.0, 1.0, 0.0], prob, 0.5) == as_int


# ------------------------------------------------------------------------ bootstrap


@pytest.mark.parametrize("metric", m.BOOTSTRAP_METRICS)
def test_bootstrap_ci_contains_point_estimate(metric: str) -> None:
    y, z = _make(0, 0.3, n=1000)
    prob = m.sigmoid(z)
    ci = m.bootstrap_ci(y, prob, 0.5, metric, n_boot=400)
    point = {"roc_auc": roc_auc_score(y, prob), "pr_auc": average_precision_score(y, prob)}
    estimate = point.get(metric, _sk(y, prob, 0.5).get(metric))
    assert ci["low"] < estimate < ci["high"]
    assert ci["low"] <= ci["mean"] <= ci["high"]
    assert abs(ci["mean"] - estimate) < (ci["high"] - ci["low"]) / 2


@pytest.mark.parametrize("metric", ["f1", "roc_auc", "accuracy"])
def test_bootstrap_ci_narrows_as_n_grows(metric: str) -> None:
    widths = []
    for n in (200, 800, 3200):
        y, z = _make(1, 0.3, n=n)
        ci = m.bootstrap_ci(y, m.sigmoid(z), 0.5, metric, n_boot=300)
        widths.append(ci["high"] - ci["low"])
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] < widths[0] / 2.5  # roughly 1/sqrt(n)


def test_bootstrap_is_deterministic_by_seed() -> None:
    y, z = _make(2, 0.4, n=500)
    prob = m.sigmoid(z)
    a = m.bootstrap_ci(y, prob, 0.5, "f1", n_boot=200, seed=7)
    assert a == m.bootstrap_ci(y, prob, 0.5, "f1", n_boot=200, seed=7)
    for seed in (7, 8):  # each seed gives exactly the interval of its own resamples
        rows = np.random.default_rng(seed).integers(0, y.size, size=(200, y.size))
        ref = np.array([f1_score(y[r], prob[r] >= 0.5) for r in rows])
        low, high = np.quantile(ref, [0.025, 0.975])
        got = m.bootstrap_ci(y, prob, 0.5, "f1", n_boot=200, seed=seed)
        assert got == pytest.approx({"mean": ref.mean(), "low": low, "high": high}, abs=1e-12)


@pytest.mark.parametrize("metric", m.BOOTSTRAP_METRICS)
def test_resample_metrics_match_sklearn(metric: str) -> None:
    # The bincount machinery, checked against sklearn on the actual resampled arrays.
    y, z = _make(4, 0.3, n=300)
    prob = np.round(m.sigmoid(z), 2)
    idx = next(m._resample_indices(y.size, 5, seed=3))
    ours = m._metric_rows(metric, y == 1, prob, 0.5, idx)
    for row, values in zip(idx, ours, strict=True):
        ys, ps = y[row], prob[row]
        scorers = {"roc_auc": roc_auc_score, "pr_auc": average_precision_score}
        ref = scorers[metric](ys, ps) if metric in scorers else _sk(ys, ps, 0.5)[metric]
        assert values == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("metric", m.BOOTSTRAP_METRICS)
def test_paired_diff_of_a_model_with_itself_is_exactly_zero(metric: str) -> None:
    y, z = _make(0, 0.3, n=600)
    prob = m.sigmoid(z)
    out = m.paired_bootstrap_diff(y, prob, 0.5, prob, 0.5, metric=metric, n_boot=300)
    assert out == {"diff": 0.0, "low": 0.0, "high": 0.0, "p_a_not_better": 1.0}


def test_paired_diff_detects_a_better_model() -> None:
    y, z = _make(0, 0.3, n=1500)
    rng = np.random.default_rng(9)
    good = m.sigmoid(z + 2.5 * (2 * y - 1))  # A: much more separable
    bad = m.sigmoid(z + rng.normal(scale=2.0, size=y.size))  # B: noisier
    out = m.paired_bootstrap_diff(y, good, 0.5, bad, 0.5, metric="f1", n_boot=500)
    assert out["diff"] == pytest.approx(f1_score(y, good >= 0.5) - f1_score(y, bad >= 0.5))
    assert 0 < out["low"] < out["diff"] < out["high"]
    assert out["p_a_not_better"] < 0.01
    reverse = m.paired_bootstrap_diff(y, bad, 0.5, good, 0.5, metric="f1", n_boot=500)
    assert reverse["high"] < 0 and reverse["p_a_not_better"] > 0.99


@pytest.mark.filterwarnings("error")
def test_bootstrap_auc_on_single_class_is_none() -> None:
    out = m.bootstrap_ci(np.zeros(30, dtype=int), np.linspace(0, 1, 30), 0.5, "roc_auc")
    assert out == {"mean": None, "low": None, "high": None}


# ------------------------------------------------------------------------ headline


def test_headline_reads_the_test_block_at_the_valid_threshold() -> None:
    vy, vz = _make(0, 0.3)
    ty, tz = _make(1, 0.3, n=300)
    report = m.evaluation_report(vy, vz, ty, tz)
    h = m.Headline.from_report(report)
    tp, best = m.sigmoid(tz), report["best_threshold_by_f1"]
    ref = _sk(ty, tp, best)
    assert h.threshold == best
    assert (h.test_f1, h.test_precision, h.test_recall, h.test_accuracy) == pytest.approx(
        (ref["f1"], ref["precision"], ref["recall"], ref["accuracy"]), abs=1e-12
    )
    assert h.test_accuracy_at_0_5 == pytest.approx(_sk(ty, tp, 0.5)["accuracy"], abs=1e-12)
    assert h.test_roc_auc == pytest.approx(roc_auc_score(ty, tp), abs=1e-12)
    assert h.test_pr_auc == pytest.approx(average_precision_score(ty, tp), abs=1e-12)


def test_headline_keeps_undefined_aucs_as_none() -> None:
    y = np.zeros(20, dtype=int)
    h = m.Headline.from_report(m.evaluation_report(y, np.zeros(20), y, np.zeros(20)))
    assert (h.test_roc_auc, h.test_pr_auc, h.threshold) == (None, None, 0.5)


@pytest.mark.parametrize(
    ("drop", "name"),
    [
        (("best_threshold_by_f1",), "best_threshold_by_f1"),
        (("test",), "test"),
        (("test", "at_valid_threshold", "recall"), "test.at_valid_threshold.recall"),
        (("test", "at_0_5"), "test.at_0_5"),
        (("test", "pr_auc"), "test.pr_auc"),
    ],
)
def test_headline_names_the_missing_key(drop: tuple[str, ...], name: str) -> None:
    vy, vz = _make(0, 0.3, n=40)
    report = json.loads(json.dumps(m.evaluation_report(vy, vz, vy, vz)))
    node = report
    for key in drop[:-1]:
        node = node[key]
    del node[drop[-1]]
    with pytest.raises(ValueError, match=rf"^evaluation report: missing key '{name}'$"):
        m.Headline.from_report(report)
