"""ECE / Brier / temperature scaling against hand-computed values and synthetic scores."""

from __future__ import annotations

import numpy as np
import pytest

from vulnfusion.calibration import (
    apply_temperature,
    brier_score,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)


def test_ece_and_brier_by_hand() -> None:
    y = [0, 1, 0, 1]
    p = [0.1, 0.2, 0.7, 0.9]
    # 2 equal-mass bins: {0.1, 0.2} acc 0.5 conf 0.15; {0.7, 0.9} acc 0.5 conf 0.8
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.5 * 0.35 + 0.5 * 0.3)
    assert brier_score(y, p) == pytest.approx((0.01 + 0.64 + 0.49 + 0.01) / 4)
    bins = reliability_bins(y, p, n_bins=2)
    assert bins.count.tolist() == [2, 2]
    assert bins.accuracy.tolist() == [0.5, 0.5]


def test_perfectly_calibrated_scores_have_ece_near_zero() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.005


def test_temperature_scaling_lowers_ece_of_an_overconfident_model() -> None:
    rng = np.random.default_rng(1)
    true_logits = rng.normal(0, 1.5, size=20_000)
    y = (rng.uniform(size=true_logits.size) < 1 / (1 + np.exp(-true_logits))).astype(int)
    overconfident = 4.0 * true_logits  # the right ranking, probabilities pushed to 0/1
    before = expected_calibration_error(y, apply_temperature(overconfident, 1.0))
    t = fit_temperature(y[:10_000], overconfident[:10_000])  # "valid" half
    after = expected_calibration_error(y[10_000:], apply_temperature(overconfident[10_000:], t))
    assert t == pytest.approx(4.0, rel=0.1)
    assert before > 0.1 and after < 0.02


def test_single_class_and_bad_input() -> None:
    assert fit_temperature([1, 1, 1], [0.2, 3.0, -1.0]) == 1.0
    with pytest.raises(ValueError, match="outside"):
        expected_calibration_error([0, 1], [0.5, 1.5])
    with pytest.raises(ValueError, match="length mismatch"):
        fit_temperature([0, 1], [0.5])
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature([0.0], 0.0)
