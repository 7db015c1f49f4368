"""Field-specific figures beside :mod:`vulnfusion.metrics`: VD-S, pair-wise outcomes and a
cluster bootstrap that resamples vulnerable/fixed pairs as units.

Conventions are :mod:`vulnfusion.metrics`'s: a function is predicted vulnerable iff
``prob >= threshold``; labels are 0/1 (1 = vulnerable).

* **VD-S** (PrimeVul, Ding et al., ICSE 2025, §4.3): the false-negative rate at the decision
  threshold with the highest recall whose false-positive rate is at most ``target_fpr``
  (0.5% there). Candidate thresholds are every distinct score plus ``+inf`` (nothing
  flagged: FPR 0, FNR 1), so the figure is exact, not read off a grid. Lower is better.
* **Pair-wise** (PrimeVul §4.2): for each pair of a vulnerable function and its fixed
  version, **P-C** both predicted correctly (vulnerable flagged, fix not), **P-V** both
  predicted vulnerable, **P-B** both predicted benign, **P-R** reversed (vulnerable predicted
  benign, fix predicted vulnerable). The four shares sum to 1. ``vulnerable_scores_higher``
  is the share of pairs where the vulnerable twin's probability is strictly higher, a tie
  counting one half (the pair-wise AUC: 0.5 is a model that cannot tell twins apart).
* Pairs come from a ``pair_id`` shared by exactly two functions, one labelled 1 and one 0,
  whose texts differ. Other groups are counted by kind (``singleton``, ``same_label``,
  ``more_than_two``, ``identical``: twins with the same text, which PrimeVul removes, as no
  model can tell them apart) and left out of the pair-wise figures (their functions still
  count everywhere else).
* The bootstrap resamples *units*: pairs (both twins together, since they are not
  independent) and the remaining functions one by one (with no pairs, every function is a
  unit: the ordinary bootstrap). Intervals are percentile intervals (the ``alpha/2`` and
  ``1 - alpha/2`` quantiles of the resampled values) of at least :data:`MIN_N_BOOT`
  resamples: fewer give bounds that are mostly noise, down to an "interval" that misses the
  point estimate. A resample on which a metric is undefined is left out of that metric's
  interval, not counted as 0: the AUCs with one class, precision with no predicted
  positive, recall with no positive, F1 with neither (the point estimates are ``None``
  then too: :func:`vulnfusion.evaluation.figures.defined_at_threshold`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vulnfusion.metrics import (
    BOOTSTRAP_METRICS,
    _check_pair,
    _check_threshold,
    _rates,
    _safe_div,
)

DEFAULT_TARGET_FPR = 0.005
MIN_N_BOOT = 100  # fewest bootstrap resamples accepted (module doc)
PAIR_KEYS = ("p_c", "p_v", "p_b", "p_r", "vulnerable_scores_higher")
_BLOCK_CELLS = 4_000_000  # resamples x rows held at once (as metrics._BOOT_BLOCK_CELLS)


# --------------------------------------------------------------------------- VD-S


def vd_score(
    y: ArrayLike, prob: ArrayLike, target_fpr: float = DEFAULT_TARGET_FPR
) -> dict[str, Any]:
    """VD-S: FNR at the highest-recall threshold whose FPR is at most ``target_fpr``.

    Returns ``{"vd_s", "threshold", "fpr", "recall", "target_fpr"}``; ``threshold`` is the
    lowest score still flagged (``None`` when nothing can be flagged, i.e. FNR 1). ``vd_s``
    and the rest are ``None`` when ``y`` lacks either class.

    Raises:
        ValueError: bad labels/probabilities (as :mod:`vulnfusion.metrics`) or a target
            outside [0, 1].
    """
    pos, p = _check_pair(y, prob, "y", "prob")
    if not 0.0 <= target_fpr <= 1.0:
        raise ValueError(f"target_fpr must lie in [0, 1]; got {target_fpr}")
    out: dict[str, Any] = {"vd_s": None, "threshold": None, "fpr": None, "recall": None}
    out["target_fpr"] = float(target_fpr)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return out
    cands = np.unique(p)  # ascending: the lowest admissible one has the highest recall
    neg_sorted, pos_sorted = np.sort(p[~pos]), np.sort(p[pos])
    fpr = (n_neg - np.searchsorted(neg_sorted, cands, side="left")) / n_neg
    ok = np.flatnonzero(fpr <= target_fpr + 1e-12)  # FPR is monotone in the threshold
    if ok.size == 0:  # only "flag nothing" qualifies
        out.update(vd_s=1.0, fpr=0.0, recall=0.0)
        return out
    t = float(cands[ok[0]])
    tp = n_pos - int(np.searchsorted(pos_sorted, t, side="left"))
    out.update(vd_s=1.0 - tp / n_pos, threshold=t, fpr=float(fpr[ok[0]]), recall=tp / n_pos)
    return out


# --------------------------------------------------------------------------- pairs


@dataclass(frozen=True)
class Pairs:
    """Row indices of each well-formed pair's twins, and what was not a pair."""

    vulnerable: NDArray[np.int64]  # (P,) row of the vulnerable twin
    fixed: NDArray[np.int64]  # (P,) row of the fixed twin
    ids: tuple[str, ...]  # (P,) their pair_id
    malformed: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.vulnerable.size)


MALFORMED_KINDS = ("singleton", "same_label", "more_than_two", "identical")


def find_pairs(
    y: ArrayLike, pair_ids: Sequence[str | None], funcs: Sequence[str] | None = None
) -> Pairs:
    """Group rows by ``pair_id`` (``None``: no pair) into vulnerable/fixed pairs; with
    ``funcs`` (the rows' texts), twins with the same text are ``identical``, not a pair.

    Raises:
        ValueError: ``pair_ids`` and ``y`` differ in length, or labels are not 0/1.
    """
    labels = np.asarray(y)
    if len(pair_ids) != labels.size:
        raise ValueError(f"length mismatch: y has {labels.size} values, pair_ids {len(pair_ids)}")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, pid in enumerate(pair_ids):
        if pid is not None:
            groups[pid].append(i)
    vul, fix, ids = [], [], []
    malformed = dict.fromkeys(MALFORMED_KINDS, 0)
    for pid, rows in groups.items():
        if len(rows) == 1:
            malformed["singleton"] += 1
        elif len(rows) > 2:
            malformed["more_than_two"] += 1
        elif labels[rows[0]] == labels[rows[1]]:
            malformed["same_label"] += 1
        elif funcs is not None and funcs[rows[0]] == funcs[rows[1]]:
            malformed["identical"] += 1
        else:
            a, b = rows if labels[rows[0]] == 1 else rows[::-1]
            vul.append(a)
            fix.append(b)
            ids.append(pid)
    return Pairs(np.array(vul, np.int64), np.array(fix, np.int64), tuple(ids), malformed)


def _pair_indicators(pairs: Pairs, prob: NDArray[np.float64], thr: float) -> dict[str, Any]:
    """(P,) per-pair indicators whose means are the pair-wise figures."""
    pv, pf = prob[pairs.vulnerable], prob[pairs.fixed]
    v, f = pv >= thr, pf >= thr
    return {
        "p_c": (v & ~f).astype(np.float64),
        "p_v": (v & f).astype(np.float64),
        "p_b": (~v & ~f).astype(np.float64),
        "p_r": (~v & f).astype(np.float64),
        "vulnerable_scores_higher": (pv > pf) + 0.5 * (pv == pf),
    }


def pairwise(
    pairs: Pairs,
    prob: ArrayLike,
    threshold: float,
    n_boot: int = 0,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """The pair-wise figures (module doc): ``n_pairs``, ``malformed`` and each of
    :data:`PAIR_KEYS` as ``{"value", "low", "high"}`` (bootstrap over pairs when
    ``n_boot > 0``, else the bounds are ``None``). With no pairs every value is ``None``."""
    p = np.asarray(prob, dtype=np.float64)
    thr = _check_threshold(threshold)
    out: dict[str, Any] = {"n_pairs": pairs.n, "malformed": dict(pairs.malformed)}
    if pairs.n == 0:
        out.update({k: {"value": None, "low": None, "high": None} for k in PAIR_KEYS})
        return out
    ind = _pair_indicators(pairs, p, thr)
    rng = np.random.default_rng(seed)
    for k in PAIR_KEYS:
        out[k] = {"value": float(ind[k].mean()), "low": None, "high": None}
    if n_boot > 0:
        check_boot(n_boot, alpha)
        block = max(1, min(n_boot, _BLOCK_CELLS // pairs.n))
        draws = [
            rng.integers(0, pairs.n, (min(block, n_boot - d), pairs.n))
            for d in range(0, n_boot, block)
        ]
        for k in PAIR_KEYS:
            vals = np.concatenate([ind[k][idx].mean(axis=1) for idx in draws])
            lo, hi = np.quantile(vals, [alpha / 2, 1 - alpha / 2])
            out[k].update(low=float(lo), high=float(hi))
    return out


# --------------------------------------------------------------------------- bootstrap


def units_of(n: int, pairs: Pairs | None) -> NDArray[np.int64]:
    """(n,) unit index per row: each pair one unit, every other row its own."""
    unit = np.full(n, -1, dtype=np.int64)
    if pairs is not None and pairs.n:
        unit[pairs.vulnerable] = np.arange(pairs.n)
        unit[pairs.fixed] = np.arange(pairs.n)
    rest = np.flatnonzero(unit < 0)
    unit[rest] = (pairs.n if pairs is not None else 0) + np.arange(rest.size)
    return unit


def intervals(
    y: ArrayLike,
    prob: ArrayLike,
    threshold: float,
    pairs: Pairs | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, dict[str, float | None]]:
    """Percentile bootstrap ``{"low", "high"}`` of every metric in
    :data:`vulnfusion.metrics.BOOTSTRAP_METRICS`; pairs are resampled as units when
    ``pairs`` holds any (module doc), else every function is its own unit.
    Undefined resamples (module doc) are dropped; none left gives ``None``.

    Raises:
        ValueError: bad labels/probabilities, ``n_boot`` below :data:`MIN_N_BOOT` or
            ``alpha`` outside (0, 1).
    """
    pos, p = _check_pair(y, prob, "y", "prob")
    thr = _check_threshold(threshold)
    check_boot(n_boot, alpha)
    unit = units_of(p.size, pairs)
    vals: dict[str, list[NDArray[np.float64]]] = {m: [] for m in BOOTSTRAP_METRICS}
    for weights in _unit_weights(unit, n_boot, seed):
        for m, v in _weighted_metrics(pos, p, thr, weights).items():
            vals[m].append(v)
    out: dict[str, dict[str, float | None]] = {}
    for m in BOOTSTRAP_METRICS:
        v = np.concatenate(vals[m])
        v = v[~np.isnan(v)]
        if v.size == 0:
            out[m] = {"low": None, "high": None}
            continue
        lo, hi = np.quantile(v, [alpha / 2, 1 - alpha / 2])
        out[m] = {"low": float(lo), "high": float(hi)}
    return out


def check_boot(n_boot: int, alpha: float) -> None:
    """Raise ``ValueError`` for fewer than :data:`MIN_N_BOOT` resamples or ``alpha`` outside
    (0, 1)."""
    if int(n_boot) < MIN_N_BOOT:
        raise ValueError(f"n_boot must be at least {MIN_N_BOOT}; got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}")


def _unit_weights(unit: NDArray[np.int64], n_boot: int, seed: int) -> Any:
    """Blocks of (b, n) row weights: how often each row's unit was drawn in a resample."""
    rng = np.random.default_rng(seed)
    n_units = int(unit.max()) + 1
    block = max(1, min(n_boot, _BLOCK_CELLS // unit.size))
    done = 0
    while done < n_boot:
        b = min(block, n_boot - done)
        draws = rng.integers(0, n_units, size=(b, n_units))
        flat = (draws + n_units * np.arange(b)[:, None]).ravel()
        counts = np.bincount(flat, minlength=b * n_units).reshape(b, n_units)
        yield counts[:, unit].astype(np.float64)
        done += b


def _weighted_metrics(
    pos: NDArray[np.bool_], p: NDArray[np.float64], thr: float, w: NDArray[np.float64]
) -> dict[str, NDArray[np.float64]]:
    """Every bootstrap metric for each row of weights ``w`` (b, n); NaN where undefined."""
    cell = 2 * pos.astype(np.int64) + (p >= thr)  # 0 tn, 1 fp, 2 fn, 3 tp
    c = np.stack([w[:, cell == k].sum(axis=1) for k in range(4)], axis=1)
    out = dict(_rates(c[:, 3], c[:, 1], c[:, 0], c[:, 2]))
    # undefined, not 0, on a resample without what the metric divides by (module doc)
    tp, fp, fn = c[:, 3], c[:, 1], c[:, 2]
    out["precision"] = np.where(tp + fp > 0, out["precision"], np.nan)
    out["recall"] = np.where(tp + fn > 0, out["recall"], np.nan)
    out["f1"] = np.where(tp + fp + fn > 0, out["f1"], np.nan)
    uniq, inv = np.unique(-p, return_inverse=True)  # tied blocks, highest score first
    keys = 2 * inv.astype(np.int64) + pos
    hist = np.stack([np.bincount(keys, weights=row, minlength=2 * uniq.size) for row in w])
    n_grp, p_grp = hist[:, 0::2], hist[:, 1::2]
    p_tot, n_tot = p_grp.sum(axis=1), n_grp.sum(axis=1)
    tp_cum, fp_cum = np.cumsum(p_grp, axis=1), np.cumsum(n_grp, axis=1)
    # as metrics._ranking_scores: a tie with a negative counts half; AP steps per score
    auc = (p_grp * (n_tot[:, None] - fp_cum + 0.5 * n_grp)).sum(axis=1)
    ap = (p_grp * _safe_div(tp_cum, tp_cum + fp_cum)).sum(axis=1)
    defined = (p_tot > 0) & (n_tot > 0)
    out["roc_auc"] = np.where(defined, _safe_div(auc, p_tot * n_tot), np.nan)
    out["pr_auc"] = np.where(defined, _safe_div(ap, p_tot), np.nan)
    return {m: out[m] for m in BOOTSTRAP_METRICS}
