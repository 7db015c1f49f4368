"""Decision-threshold policies, chosen on **valid** only (``register.threshold_policy``).

A function is labelled vulnerable iff its probability ``p >= threshold`` (the convention of
:mod:`vulnfusion.metrics`). Three policies:

* ``max_f1`` (default) — the threshold of :data:`~vulnfusion.metrics.SWEEP_THRESHOLDS`
  (0.30 … 0.70) with the highest valid F1, tie rule of :func:`~vulnfusion.metrics.best_threshold`
  (the seed's parity behaviour, unchanged).
* ``target_fpr`` with target ``a`` — the threshold with the **largest valid recall** among
  those whose valid false-positive rate is ``<= a``; among thresholds with that recall the
  highest one (fewest false positives). It is always one of the valid positives' scores.
* ``target_recall`` with target ``r`` — the **highest** threshold whose valid recall is
  ``>= r`` (fewest false positives at that recall): the ``ceil(r · n_pos)``-th highest
  positive score.

The candidate thresholds of the target policies are the valid positives' own scores (recall
changes only there), so the choice is exact, not limited to a grid.

When no threshold meets a target — ``target_fpr`` where even the top-scored positive sits
above more than ``a · n_neg`` negatives (only recall 0 would keep the FPR), or a valid split
without positives — the policy **falls back to max_f1**, logs one WARNING line saying so,
and records ``policy_met: false`` in the choice (and so in ``ensemble_metrics.json``, the
model's tags and its serving spec): a pipeline run of hours is not thrown away at the last
stage, and nobody can miss that the target was not reached.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from vulnfusion.metrics import _check_pair, best_threshold, binary_report, threshold_sweep

log = logging.getLogger(__name__)

Policy = Literal["max_f1", "target_fpr", "target_recall"]
POLICIES: tuple[str, ...] = ("max_f1", "target_fpr", "target_recall")


@dataclass(frozen=True)
class ThresholdChoice:
    """A chosen decision threshold and how it came about (``ensemble_metrics.json["threshold"]``).

    ``policy``/``target`` are what was asked (``target`` is ``None`` for max_f1); ``value`` the
    threshold on the probability scale it was chosen on; ``policy_met`` is False when the
    target could not be reached and ``value`` is the max_f1 fallback; ``valid_fpr`` and
    ``valid_recall`` are measured on valid at ``value``.
    """

    policy: str
    target: float | None
    value: float
    policy_met: bool
    valid_fpr: float
    valid_recall: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rates_at(y: ArrayLike, prob: ArrayLike, thr: float) -> tuple[float, float]:
    r = binary_report(y, prob, thr)
    n_neg = r["fp"] + r["tn"]
    return (r["fp"] / n_neg if n_neg else 0.0), float(r["recall"])


def _target_fpr(pos: np.ndarray, p: np.ndarray, target: float) -> float | None:
    """Largest-recall threshold with FPR <= target (the highest at that recall), or None."""
    neg = np.sort(p[~pos])
    cands = np.unique(p[pos])  # ascending: the lowest feasible one has the largest recall
    if cands.size == 0:
        return None
    # negatives predicted positive at each candidate (score >= candidate)
    fp = neg.size - np.searchsorted(neg, cands, side="left")
    fpr = fp / neg.size if neg.size else np.zeros(cands.size)
    # ``fpr`` falls as the candidate rises: the first feasible candidate keeps the most
    # positives, and, being a positive's score, is the highest threshold with that recall.
    ok = np.flatnonzero(fpr <= target + 1e-12)
    return float(cands[ok[0]]) if ok.size else None


def _target_recall(pos: np.ndarray, p: np.ndarray, target: float) -> float | None:
    """Highest threshold with recall >= target: the k-th highest positive score, or None."""
    scores = np.sort(p[pos])[::-1]
    if scores.size == 0:
        return None
    k = max(1, math.ceil(target * scores.size - 1e-9))  # positives that must score >= t
    return float(scores[min(k, scores.size) - 1])


def choose_threshold(
    y: ArrayLike, prob: ArrayLike, policy: str = "max_f1", target: float | None = None
) -> ThresholdChoice:
    """The decision threshold on ``prob`` that ``policy`` picks on this (valid) split.

    Args:
        y: shape (n,), valid labels 0/1.
        prob: shape (n,), valid probabilities in [0, 1] (the scale the model serves).
        policy: ``max_f1``, ``target_fpr`` or ``target_recall`` (module docstring).
        target: the FPR (``0 <= a < 1``) or recall (``0 < r <= 1``) target; ``None`` for max_f1.

    Returns:
        A :class:`ThresholdChoice`; ``policy_met=False`` (and one WARNING log line) when the
        target cannot be met and the max_f1 threshold is used instead.

    Raises:
        ValueError: unknown policy, a target missing or out of range for the policy, or the
            inputs of :func:`vulnfusion.metrics.binary_report` are bad.
    """
    pos, p = _check_pair(y, prob, "y", "prob")
    if policy not in POLICIES:
        raise ValueError(f"unknown threshold policy {policy!r}; choose from {', '.join(POLICIES)}")
    if policy == "max_f1":
        if target is not None:
            raise ValueError(f"threshold policy max_f1 takes no target; got {target!r}")
        chosen: float | None = best_threshold(threshold_sweep(pos, p))
    else:
        _check_target(policy, target)
        assert target is not None
        pick = _target_fpr if policy == "target_fpr" else _target_recall
        chosen = pick(pos, p, target)
    met = chosen is not None
    if chosen is None:
        chosen = best_threshold(threshold_sweep(pos, p))
        log.warning(
            "threshold policy %s=%s cannot be met on valid (%d positives, %d negatives): "
            "falling back to the max_f1 threshold %.4f (policy_met=false in the model metadata)",
            policy,
            target,
            int(pos.sum()),
            int((~pos).sum()),
            chosen,
        )
    fpr, recall = _rates_at(pos, p, chosen)
    return ThresholdChoice(policy, target, float(chosen), met, fpr, recall)


def _check_target(policy: str, target: float | None) -> None:
    if target is None or not isinstance(target, int | float) or not math.isfinite(target):
        raise ValueError(f"threshold policy {policy} needs a numeric target; got {target!r}")
    if policy == "target_fpr" and not 0.0 <= target < 1.0:
        raise ValueError(f"target_fpr target must lie in [0, 1); got {target}")
    if policy == "target_recall" and not 0.0 < target <= 1.0:
        raise ValueError(f"target_recall target must lie in (0, 1]; got {target}")


def decision_threshold(report: Mapping[str, Any]) -> float:
    """The threshold a report's ``test.at_valid_threshold`` figures and the served label use:
    ``report["threshold"]["value"]`` (written by the aggregate stage), else, for reports
    without a policy block (per-seed ``metrics.json``), ``best_threshold_by_f1``."""
    block = report.get("threshold")
    if isinstance(block, Mapping) and "value" in block:
        return float(block["value"])
    return float(report["best_threshold_by_f1"])
