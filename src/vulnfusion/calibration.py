"""Probability calibration: expected calibration error, Brier score, temperature scaling.

* ECE follows Naeini et al. (AAAI 2015) / Guo et al. (ICML 2017) with **equal-mass** bins
  (each bin holds ~n/15 examples, as Nixon et al., CVPR-W 2019 recommend over equal-width
  bins for skewed scores): ``ECE = Σ_b (n_b / n) · |mean(y_b) − mean(p_b)|`` over the
  positive-class probability (binary "reliability" form, Zhou et al., ICSE 2024).
* Brier score (Brier, 1950): ``mean((p − y)²)``.
* Temperature scaling (Guo et al., ICML 2017): one scalar ``T > 0`` with
  ``p = sigmoid(logit / T)``, fitted by minimising the negative log-likelihood on a
  **validation** split only; it never changes the ranking (ROC-AUC is unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vulnfusion.metrics import _as_finite, _as_labels, _check_pair, sigmoid

ECE_BINS = 15
# Search range for log(T): T in [e^-4, e^4] ≈ [0.018, 54.6] covers any sane model.
_LOG_T_BOUNDS = (-4.0, 4.0)


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin figures behind ECE and the reliability diagram (arrays of length ``n_bins``).

    ``confidence`` is the mean predicted probability of the bin, ``accuracy`` the fraction
    of positives in it, ``count`` its number of examples; empty bins are dropped.
    """

    confidence: NDArray[np.float64]
    accuracy: NDArray[np.float64]
    count: NDArray[np.int64]


def reliability_bins(y: ArrayLike, prob: ArrayLike, n_bins: int = ECE_BINS) -> ReliabilityBins:
    """Equal-mass bins of ``prob`` (sorted, split into ``n_bins`` near-equal chunks).

    Args:
        y: shape (n,), labels 0/1.
        prob: shape (n,), probabilities in [0, 1].
        n_bins: number of bins (≥ 1); fewer examples than bins gives one example per bin.

    Raises:
        ValueError: shapes differ, labels are not 0/1, probabilities outside [0, 1], or
            ``n_bins < 1``.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1; got {n_bins}")
    yy, pp = _check_pair(y, prob, "y", "prob")
    order = np.argsort(pp, kind="stable")
    chunks = [c for c in np.array_split(order, min(n_bins, pp.size)) if c.size]
    return ReliabilityBins(
        confidence=np.array([pp[c].mean() for c in chunks], dtype=np.float64),
        accuracy=np.array([yy[c].mean() for c in chunks], dtype=np.float64),
        count=np.array([c.size for c in chunks], dtype=np.int64),
    )


def expected_calibration_error(y: ArrayLike, prob: ArrayLike, n_bins: int = ECE_BINS) -> float:
    """ECE with ``n_bins`` equal-mass bins, in [0, 1] (0 = perfectly calibrated).

    Raises:
        ValueError: as :func:`reliability_bins`.
    """
    bins = reliability_bins(y, prob, n_bins)
    weights = bins.count / bins.count.sum()
    return float(np.sum(weights * np.abs(bins.accuracy - bins.confidence)))


def brier_score(y: ArrayLike, prob: ArrayLike) -> float:
    """Mean squared error of the probability against the 0/1 label, in [0, 1].

    Raises:
        ValueError: as :func:`reliability_bins`.
    """
    yy, pp = _check_pair(y, prob, "y", "prob")
    return float(np.mean((pp - yy.astype(np.float64)) ** 2))


def _nll(y: NDArray[np.bool_], logits: NDArray[np.float64], log_t: float) -> float:
    z = logits / np.exp(log_t)
    # log(1 + e^-|z|) + max(z, 0) − y·z: the numerically stable binary cross-entropy
    return float(np.mean(np.logaddexp(0.0, z) - np.where(y, z, 0.0)))


def fit_temperature(y: ArrayLike, logits: ArrayLike) -> float:
    """The temperature ``T`` minimising NLL of ``sigmoid(logits / T)`` on (y, logits).

    Fit it on a validation split, never on test. A single-class split carries no
    calibration signal for the ranking-preserving scale, so ``T = 1`` is returned there.

    Args:
        y: shape (n,), labels 0/1.
        logits: shape (n,), finite real-valued scores (log-odds).

    Returns:
        ``T`` in [e^-4, e^4]; 1.0 for a single-class split.

    Raises:
        ValueError: shapes differ, labels are not 0/1 or logits are not finite.
    """
    from scipy.optimize import minimize_scalar

    yy, zz = _as_labels(y), _as_finite(logits, "logits")
    if yy.size != zz.size:
        raise ValueError(f"length mismatch: y has {yy.size} values, logits has {zz.size}")
    if yy.all() or not yy.any():
        return 1.0
    res = minimize_scalar(
        lambda t: _nll(yy, zz, t), bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6}
    )
    return float(np.exp(res.x))


def apply_temperature(logits: ArrayLike, temperature: float) -> NDArray[np.float64]:
    """``sigmoid(logits / temperature)``: calibrated probabilities, shape as ``logits``.

    Raises:
        ValueError: ``temperature`` is not a finite number > 0.
    """
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0; got {temperature}")
    return sigmoid(np.asarray(logits, dtype=np.float64) / temperature)
