"""Binary-classification metrics with fixed ``metrics.json`` keys, sweeps and bootstrap intervals.

Conventions used everywhere in this module:

* Models emit one logit per example; ``prob = sigmoid(logit)``.
* An example is predicted positive iff ``prob >= threshold``.
* Zero denominators give 0.0 (precision with no predicted positives, recall with no
  positives, F1 with no positives and no predicted positives), like scikit-learn's
  ``zero_division=0``, without warnings.
* ``balanced_accuracy`` is the mean recall over the classes present in ``y`` (as
  scikit-learn's ``balanced_accuracy_score``, which drops a class absent from ``y_true``).
* ``roc_auc`` and ``pr_auc`` (average precision, as ``average_precision_score``) are
  undefined on a split holding a single class; they are reported as ``None`` there (and
  bootstrap resamples with a single class are dropped from those intervals).

All counting is vectorised: a threshold sweep sorts once and uses ``searchsorted``; the
bootstrap maps every example to a cell (confusion cell, or tied-score block x class) once,
and a single ``bincount`` over a block of resamples gives every resample's counts, from
which AUC / AP are cumulative sums. Point estimates run the same code on the identity
"resample", so the bootstrap and the reported values cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

SWEEP_THRESHOLDS: FloatArray = np.round(0.30 + 0.01 * np.arange(41), 2)

THRESHOLD_METRICS = ("accuracy", "precision", "recall", "f1", "balanced_accuracy")
RANKING_METRICS = ("roc_auc", "pr_auc")
BOOTSTRAP_METRICS = THRESHOLD_METRICS + RANKING_METRICS

# Bound on resamples x examples held in memory at once (float64 -> ~32 MB per block).
_BOOT_BLOCK_CELLS = 4_000_000


# --------------------------------------------------------------------------- validation


def _as_1d(values: ArrayLike, name: str) -> NDArray[Any]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; metrics need at least one example")
    return arr


def _as_labels(y: ArrayLike, name: str = "y") -> BoolArray:
    """Labels as a boolean 'is positive' array; anything but 0/1 is an error."""
    arr = _as_1d(y, name)
    if arr.dtype == np.bool_:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold 0/1 labels; got dtype {arr.dtype}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        examples = np.unique(arr[bad])[:5].tolist()
        raise ValueError(
            f"{name} must hold 0/1 labels; got {int(bad.sum())} others, e.g. {examples}"
        )
    return arr == 1


def _as_finite(values: ArrayLike, name: str) -> FloatArray:
    arr = _as_1d(values, name)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    out = arr.astype(np.float64)
    n_bad = int((~np.isfinite(out)).sum())
    if n_bad:
        raise ValueError(f"{name}: {n_bad} of {out.size} values are NaN or infinite")
    return out


def _as_prob(prob: ArrayLike, name: str = "prob") -> FloatArray:
    out = _as_finite(prob, name)
    n_out = int(((out < 0.0) | (out > 1.0)).sum())
    if n_out:
        # The usual cause is passing logits where probabilities are expected.
        raise ValueError(f"{name}: {n_out} values lie outside [0, 1] (logits? apply sigmoid)")
    return out


def _check_pair(
    y: ArrayLike, prob: ArrayLike, yname: str, pname: str
) -> tuple[BoolArray, FloatArray]:
    pos = _as_labels(y, yname)
    p = _as_prob(prob, pname)
    if pos.size != p.size:
        raise ValueError(f"length mismatch: {yname} has {pos.size} values, {pname} has {p.size}")
    return pos, p


def _check_threshold(threshold: float) -> float:
    t = float(threshold)
    if not (np.isfinite(t) and 0.0 <= t <= 1.0):
        raise ValueError(f"threshold must be a finite probability in [0, 1]; got {threshold!r}")
    return t


# --------------------------------------------------------------------------- core maths


def sigmoid(logits: ArrayLike) -> FloatArray:
    """Numerically stable logistic function in float64 (no overflow warnings for big |x|).

    ``+inf``/``-inf`` map to 1/0 and NaN stays NaN; callers that must reject non-finite
    logits (e.g. :func:`evaluation_report`) validate before calling.
    """
    x = np.asarray(logits, dtype=np.float64)
    out = np.empty_like(x)
    nonneg = x >= 0
    # exp() only ever sees non-positive arguments, so it cannot overflow.
    out[nonneg] = 1.0 / (1.0 + np.exp(-x[nonneg]))
    e = np.exp(x[~nonneg])
    out[~nonneg] = e / (1.0 + e)
    return out


def _safe_div(num: ArrayLike, den: ArrayLike) -> FloatArray:
    """num / den elementwise, 0.0 where den == 0 (sklearn's zero_division=0), no warnings."""
    n = np.asarray(num, dtype=np.float64)
    d = np.asarray(den, dtype=np.float64)
    n, d = np.broadcast_arrays(n, d)
    return np.divide(n, d, out=np.zeros(n.shape, dtype=np.float64), where=d != 0)


def _rates(tp: ArrayLike, fp: ArrayLike, tn: ArrayLike, fn: ArrayLike) -> dict[str, FloatArray]:
    """Threshold metrics from confusion counts; works elementwise on arrays of counts."""
    tp, fp, tn, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, tn, fn))
    n_pos, n_neg = tp + fn, tn + fp
    tpr, tnr = _safe_div(tp, n_pos), _safe_div(tn, n_neg)
    # Mean recall over the classes that occur (sklearn drops a class absent from y_true).
    n_classes = (n_pos > 0).astype(np.float64) + (n_neg > 0)
    return {
        "accuracy": _safe_div(tp + tn, n_pos + n_neg),
        "precision": _safe_div(tp, tp + fp),
        "recall": tpr,
        # One correctly rounded division of integers, so equal F1 values compare equal
        # exactly (the tie rule in best_threshold relies on that).
        "f1": _safe_div(2.0 * tp, 2.0 * tp + fp + fn),
        "balanced_accuracy": _safe_div(tpr * (n_pos > 0) + tnr * (n_neg > 0), n_classes),
    }


def _sweep_counts(
    pos: BoolArray, prob: FloatArray, thresholds: FloatArray
) -> dict[str, NDArray[np.int64]]:
    """tp/fp/tn/fn for every threshold at once: count of scores >= t via sorted search."""
    pos_sorted = np.sort(prob[pos])
    neg_sorted = np.sort(prob[~pos])
    # side="left" finds the first score >= t, so everything from there on is predicted 1.
    tp = pos_sorted.size - np.searchsorted(pos_sorted, thresholds, side="left")
    fp = neg_sorted.size - np.searchsorted(neg_sorted, thresholds, side="left")
    return {"tp": tp, "fp": fp, "tn": neg_sorted.size - fp, "fn": pos_sorted.size - tp}


def _binned_counts(keys: NDArray[np.int64], idx: NDArray[np.int64], n_keys: int) -> FloatArray:
    """Row-wise histogram of ``keys[idx]``: shape ``(len(idx), n_keys)``, one bincount."""
    b = idx.shape[0]
    flat = (keys[idx] + n_keys * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n_keys).reshape(b, n_keys).astype(np.float64)


def _ranking_scores(
    pos: BoolArray, score: FloatArray, idx: NDArray[np.int64]
) -> dict[str, FloatArray]:
    """ROC AUC and average precision for each row of resample indices ``idx``.

    Scores are grouped into tied blocks (descending); a tie counts half in the AUC, and AP
    steps once per distinct score, exactly as scikit-learn does. Rows with a single class
    give NaN.
    """
    uniq, inv = np.unique(-score, return_inverse=True)  # group 0 = highest score
    keys = 2 * inv.astype(np.int64) + pos
    counts = _binned_counts(keys, idx, 2 * uniq.size)
    n_grp, p_grp = counts[:, 0::2], counts[:, 1::2]
    p_tot, n_tot = p_grp.sum(axis=1), n_grp.sum(axis=1)
    tp_cum, fp_cum = np.cumsum(p_grp, axis=1), np.cumsum(n_grp, axis=1)
    # Positives in a block beat every negative with a strictly lower score, tie with half.
    n_below = n_tot[:, None] - fp_cum
    auc_num = (p_grp * (n_below + 0.5 * n_grp)).sum(axis=1)
    ap_num = (p_grp * _safe_div(tp_cum, tp_cum + fp_cum)).sum(axis=1)
    defined = (p_tot > 0) & (n_tot > 0)
    nan = np.full(p_tot.shape, np.nan)
    return {
        "roc_auc": np.where(defined, _safe_div(auc_num, p_tot * n_tot), nan),
        "pr_auc": np.where(defined, _safe_div(ap_num, p_tot), nan),
    }


def _identity(n: int) -> NDArray[np.int64]:
    """The 'resample' that is the data itself, so point estimates share the bootstrap code."""
    return np.arange(n, dtype=np.int64)[None, :]


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


# --------------------------------------------------------------------------- public metrics


def confusion(y: ArrayLike, prob: ArrayLike, threshold: float) -> dict[str, int]:
    """Confusion counts ``{tp, fp, tn, fn}``; predicted positive iff ``prob >= threshold``."""
    pos, p = _check_pair(y, prob, "y", "prob")
    t = _check_threshold(threshold)
    counts = _sweep_counts(pos, p, np.array([t]))
    return {k: int(v[0]) for k, v in counts.items()}


def _report_from_counts(threshold: float, c: dict[str, int]) -> dict[str, Any]:
    rates = _rates(c["tp"], c["fp"], c["tn"], c["fn"])
    report: dict[str, Any] = {"threshold": float(threshold)}
    report.update({k: float(rates[k]) for k in THRESHOLD_METRICS})
    report["confusion_matrix"] = [[c["tn"], c["fp"]], [c["fn"], c["tp"]]]
    report.update({k: int(c[k]) for k in ("tp", "fp", "tn", "fn")})
    return report


def binary_report(y: ArrayLike, prob: ArrayLike, threshold: float) -> dict[str, Any]:
    """Threshold metrics at one threshold.

    Keys: threshold, accuracy, precision, recall, f1, balanced_accuracy, confusion_matrix
    (``[[tn, fp], [fn, tp]]``, scikit-learn's layout), tp, fp, tn, fn. Plain Python types.
    """
    return _report_from_counts(threshold, confusion(y, prob, threshold))


def threshold_sweep(
    y: ArrayLike, prob: ArrayLike, thresholds: ArrayLike = SWEEP_THRESHOLDS
) -> list[dict[str, Any]]:
    """One :func:`binary_report`-style row per threshold (without ``confusion_matrix``).

    Each row: threshold, precision, recall, f1, balanced_accuracy, accuracy, tp, fp, tn, fn.
    Vectorised: one sort, then a ``searchsorted`` per class for all thresholds together.
    """
    pos, p = _check_pair(y, prob, "y", "prob")
    ts = _as_finite(thresholds, "thresholds")
    for t in ts:
        _check_threshold(t)
    counts = _sweep_counts(pos, p, ts)
    rates = _rates(counts["tp"], counts["fp"], counts["tn"], counts["fn"])
    rows = []
    for i, t in enumerate(ts):
        row: dict[str, Any] = {"threshold": float(t)}
        row.update({k: float(rates[k][i]) for k in ("precision", "recall", "f1")})
        row["balanced_accuracy"] = float(rates["balanced_accuracy"][i])
        row["accuracy"] = float(rates["accuracy"][i])
        row.update({k: int(counts[k][i]) for k in ("tp", "fp", "tn", "fn")})
        rows.append(row)
    return rows


def best_threshold(sweep: Sequence[dict[str, Any]]) -> float:
    """The sweep threshold with the highest F1.

    Tie rule (exact F1 equality): prefer the threshold closest to 0.5, then the lower one.
    Staying near 0.5 keeps the choice stable and unsurprising when F1 is flat (e.g. all
    zero on a split with no positives, which therefore yields 0.5).
    """
    if not sweep:
        raise ValueError("best_threshold: the sweep is empty")

    def key(row: dict[str, Any]) -> tuple[float, float, float]:
        t = float(row["threshold"])
        # Rounded distance so 0.49 and 0.51 count as equally close despite float error.
        return (-float(row["f1"]), round(abs(t - 0.5), 9), t)

    return float(min(sweep, key=key)["threshold"])


def roc_auc(y: ArrayLike, prob: ArrayLike) -> float | None:
    """Area under the ROC curve (as ``roc_auc_score``); ``None`` if ``y`` has one class."""
    pos, p = _check_pair(y, prob, "y", "prob")
    return _none_if_nan(_ranking_scores(pos, p, _identity(p.size))["roc_auc"][0])


def pr_auc(y: ArrayLike, prob: ArrayLike) -> float | None:
    """Average precision (as ``average_precision_score``); ``None`` if ``y`` has one class."""
    pos, p = _check_pair(y, prob, "y", "prob")
    return _none_if_nan(_ranking_scores(pos, p, _identity(p.size))["pr_auc"][0])


def _split_block(y: ArrayLike, prob: FloatArray, name: str) -> dict[str, Any]:
    pos = _as_labels(y, f"{name}_y")
    ranks = _ranking_scores(pos, prob, _identity(prob.size))
    return {
        "n": int(pos.size),
        "n_positive": int(pos.sum()),
        "roc_auc": _none_if_nan(ranks["roc_auc"][0]),
        "pr_auc": _none_if_nan(ranks["pr_auc"][0]),
    }


def _checked_probs(y: ArrayLike, logits: ArrayLike, name: str) -> FloatArray:
    pos = _as_labels(y, f"{name}_y")
    z = _as_finite(logits, f"{name}_logits")
    if pos.size != z.size:
        raise ValueError(
            f"length mismatch: {name}_y has {pos.size} values, {name}_logits has {z.size}"
        )
    return sigmoid(z)


def evaluation_report(
    valid_y: ArrayLike, valid_logits: ArrayLike, test_y: ArrayLike, test_logits: ArrayLike
) -> dict[str, Any]:
    """The evaluation report: the full ``metrics.json`` dictionary (plain Python types).

    Everything at top level is computed on **valid**, which alone chooses the threshold
    (max F1 over :data:`SWEEP_THRESHOLDS`, tie rule in :func:`best_threshold`). The ``test``
    block reports ``roc_auc``/``pr_auc`` (``None`` on a single-class split) and full
    :func:`binary_report` dicts at 0.5 (``at_0_5``) and at the valid threshold
    (``at_valid_threshold``). ``valid`` and ``test`` also carry ``n`` and ``n_positive``.
    """
    pv = _checked_probs(valid_y, valid_logits, "valid")
    pt = _checked_probs(test_y, test_logits, "test")
    sweep = threshold_sweep(valid_y, pv)
    best = best_threshold(sweep)
    at_half = binary_report(valid_y, pv, 0.5)
    at_best = binary_report(valid_y, pv, best)
    return {
        "f1_at_0_5": at_half["f1"],
        "f1_at_best_threshold": at_best["f1"],
        "best_threshold_by_f1": best,
        "balanced_accuracy_at_best_threshold": at_best["balanced_accuracy"],
        "confusion_matrix_at_0_5": at_half["confusion_matrix"],
        "confusion_matrix_at_best_threshold": at_best["confusion_matrix"],
        "threshold_sweep": sweep,
        "valid": _split_block(valid_y, pv, "valid"),
        "test": {
            **_split_block(test_y, pt, "test"),
            "at_0_5": binary_report(test_y, pt, 0.5),
            "at_valid_threshold": binary_report(test_y, pt, best),
        },
    }


def _report_value(report: Mapping[str, Any], *path: str) -> Any:
    node: Any = report
    for i, key in enumerate(path):
        if not isinstance(node, Mapping) or key not in node:
            raise ValueError(f"evaluation report: missing key '{'.'.join(path[: i + 1])}'")
        node = node[key]
    return node


@dataclass(frozen=True)
class Headline:
    """The figures a reader quotes from an evaluation report (:func:`evaluation_report`,
    or an ``ensemble_metrics.json`` that extends it): all on **test**, at the threshold
    chosen on valid unless the name says ``at_0_5``. AUCs are ``None`` on a one-class split.
    """

    threshold: float  # chosen on valid (max F1 over the sweep)
    test_f1: float
    test_precision: float
    test_recall: float
    test_accuracy: float
    test_accuracy_at_0_5: float
    test_roc_auc: float | None
    test_pr_auc: float | None

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> Headline:
        """Read the headline out of a report; ``ValueError`` naming the first missing key."""
        at_valid = _report_value(report, "test", "at_valid_threshold")
        for key in ("f1", "precision", "recall", "accuracy"):
            _report_value(report, "test", "at_valid_threshold", key)
        return cls(
            threshold=float(_report_value(report, "best_threshold_by_f1")),
            test_f1=float(at_valid["f1"]),
            test_precision=float(at_valid["precision"]),
            test_recall=float(at_valid["recall"]),
            test_accuracy=float(at_valid["accuracy"]),
            test_accuracy_at_0_5=float(_report_value(report, "test", "at_0_5", "accuracy")),
            test_roc_auc=_optional(_report_value(report, "test", "roc_auc")),
            test_pr_auc=_optional(_report_value(report, "test", "pr_auc")),
        )


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


# --------------------------------------------------------------------------- bootstrap


def _resample_indices(n: int, n_boot: int, seed: int) -> Iterator[NDArray[np.int64]]:
    """Blocks of bootstrap resamples, each row ``n`` indices drawn with replacement.

    Every metric turns a block into per-row histograms with one ``bincount`` (see
    :func:`_binned_counts`), so nothing is sorted or looped over per resample. Blocks
    bound memory for large ``n``; the block size depends only on ``n``, so results are
    deterministic for a given seed.
    """
    rng = np.random.default_rng(seed)
    block = max(1, min(n_boot, _BOOT_BLOCK_CELLS // n))
    done = 0
    while done < n_boot:
        b = min(block, n_boot - done)
        yield rng.integers(0, n, size=(b, n), dtype=np.int64)
        done += b


def _metric_rows(
    metric: str, pos: BoolArray, prob: FloatArray, thr: float, idx: NDArray[np.int64]
) -> FloatArray:
    """``metric`` for each row of resample indices ``idx`` (NaN where undefined)."""
    if metric in RANKING_METRICS:
        return _ranking_scores(pos, prob, idx)[metric]
    # Cell of each example: 0 tn, 1 fp, 2 fn, 3 tp; a histogram per row gives the counts.
    cell = 2 * pos.astype(np.int64) + (prob >= thr)
    c = _binned_counts(cell, idx, 4)
    return _rates(c[:, 3], c[:, 1], c[:, 0], c[:, 2])[metric]


def _check_metric(metric: str, n_boot: int, alpha: float) -> None:
    if metric not in BOOTSTRAP_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(BOOTSTRAP_METRICS)}")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1; got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}")


def _collect(
    n: int, n_boot: int, seed: int, fn: Callable[[NDArray[np.int64]], FloatArray]
) -> FloatArray:
    return np.concatenate([fn(idx) for idx in _resample_indices(n, int(n_boot), seed)])


def _interval(values: FloatArray, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def bootstrap_ci(
    y: ArrayLike,
    prob: ArrayLike,
    threshold: float,
    metric: str,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, float | None]:
    """Percentile bootstrap interval ``{"mean", "low", "high"}`` for one metric.

    ``mean`` is the mean over resamples; ``low``/``high`` are the ``alpha/2`` and
    ``1 - alpha/2`` quantiles. ``threshold`` is ignored by ``roc_auc``/``pr_auc``.
    Resamples where the metric is undefined (a single class, for the AUCs) are dropped;
    if none remain all three values are ``None``. Deterministic for a given ``seed``.
    """
    pos, p = _check_pair(y, prob, "y", "prob")
    thr = _check_threshold(threshold)
    _check_metric(metric, n_boot, alpha)
    vals = _collect(p.size, n_boot, seed, lambda idx: _metric_rows(metric, pos, p, thr, idx))
    vals = vals[~np.isnan(vals)]
    if vals.size == 0:
        return {"mean": None, "low": None, "high": None}
    low, high = _interval(vals, alpha)
    return {"mean": float(vals.mean()), "low": low, "high": high}


def paired_bootstrap_diff(
    y: ArrayLike,
    prob_a: ArrayLike,
    thr_a: float,
    prob_b: ArrayLike,
    thr_b: float,
    metric: str = "f1",
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, float | None]:
    """Paired bootstrap of ``metric(A) - metric(B)`` on the same resampled examples.

    Returns ``diff`` (the difference on the full data), ``low``/``high`` (percentile
    interval of the resampled differences) and ``p_a_not_better`` (share of resamples
    with difference <= 0, a one-sided bootstrap p-value for "A beats B"). Resamples where
    either side is undefined are dropped; if none remain, all values are ``None``.
    """
    pos, pa = _check_pair(y, prob_a, "y", "prob_a")
    _, pb = _check_pair(y, prob_b, "y", "prob_b")
    ta, tb = _check_threshold(thr_a), _check_threshold(thr_b)
    _check_metric(metric, n_boot, alpha)

    def diff_rows(idx: NDArray[np.int64]) -> FloatArray:
        return _metric_rows(metric, pos, pa, ta, idx) - _metric_rows(metric, pos, pb, tb, idx)

    observed = float(diff_rows(_identity(pa.size))[0])
    vals = _collect(pa.size, n_boot, seed, diff_rows)
    vals = vals[~np.isnan(vals)]
    if vals.size == 0 or np.isnan(observed):
        return {"diff": None, "low": None, "high": None, "p_a_not_better": None}
    low, high = _interval(vals, alpha)
    return {"diff": observed, "low": low, "high": high, "p_a_not_better": float((vals <= 0).mean())}
