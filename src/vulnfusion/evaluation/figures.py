"""One set of evaluation figures for scored, labelled functions; group breakdowns; leakage.

:func:`figure_set` is what ``evaluation.json`` holds under ``all`` and (with the training
overlap removed) ``without_overlap``; its keys are documented in
:mod:`vulnfusion.evaluation` and kept stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vulnfusion.calibration import ECE_BINS, brier_score, expected_calibration_error
from vulnfusion.data.fingerprint import Fingerprints, exact_hash, normalized_hash
from vulnfusion.evaluation.measures import (
    DEFAULT_TARGET_FPR,
    Pairs,
    find_pairs,
    intervals,
    pairwise,
    vd_score,
)
from vulnfusion.metrics import THRESHOLD_METRICS, binary_report, pr_auc, roc_auc

GROUP_FIELDS = ("project", "cwe")
GROUP_METRICS = ("accuracy", "precision", "recall", "f1")


@dataclass(frozen=True)
class Options:
    """How the figures are computed (CLI flags)."""

    target_fpr: float = DEFAULT_TARGET_FPR
    n_boot: int = 1000
    seed: int = 0
    alpha: float = 0.05


@dataclass(frozen=True)
class Scored:
    """Scored functions, row-aligned: labels (n,) 0/1, probabilities (n,), and per-row fields."""

    y: NDArray[np.int64]
    prob: NDArray[np.float64]
    pair_id: Sequence[str | None]
    project: Sequence[str | None]
    cwe: Sequence[str | None]
    func: Sequence[str] | None = None  # the texts: byte-identical twins are not a pair

    def subset(self, rows: NDArray[np.int64]) -> Scored:
        def pick(values: Sequence[Any]) -> list[Any]:
            return [values[int(i)] for i in rows]

        return Scored(
            self.y[rows],
            self.prob[rows],
            pick(self.pair_id),
            pick(self.project),
            pick(self.cwe),
            None if self.func is None else pick(self.func),
        )


def figure_set(data: Scored, threshold: float, opts: Options) -> dict[str, Any]:
    """Every headline figure for ``data`` at the model's ``threshold``.

    Keys: ``n``, ``n_positive``, ``threshold``, ``bootstrap_unit`` (``pair`` or
    ``function``); ``roc_auc``, ``pr_auc`` and each of
    accuracy/precision/recall/f1/balanced_accuracy as ``{"value", "low", "high"}`` (bootstrap
    95% percentile interval, pairs resampled as units); ``confusion`` ``{tp, fp, tn, fn}``;
    ``vd_s`` (:func:`~vulnfusion.evaluation.measures.vd_score`); ``calibration``
    ``{ece, brier, n_bins}``; ``pairs`` (:func:`~vulnfusion.evaluation.measures.pairwise`,
    ``None`` when no row has a ``pair_id``). A figure undefined on this data is ``None``.
    """
    y, p = data.y, data.prob
    pairs = None
    if any(x is not None for x in data.pair_id):
        pairs = find_pairs(y, data.pair_id, data.func)
    at = binary_report(y, p, threshold)
    cis = intervals(y, p, threshold, pairs, opts.n_boot, opts.seed, opts.alpha)
    out: dict[str, Any] = {"n": int(y.size), "n_positive": int(y.sum()), "threshold": threshold}
    out["bootstrap_unit"] = "pair" if pairs is not None and pairs.n else "function"
    point = {"roc_auc": roc_auc(y, p), "pr_auc": pr_auc(y, p)}
    point.update(defined_at_threshold(at, THRESHOLD_METRICS))
    for k, v in point.items():
        out[k] = {"value": v, **cis[k]}
    out["confusion"] = {k: at[k] for k in ("tp", "fp", "tn", "fn")}
    out["vd_s"] = vd_score(y, p, opts.target_fpr)
    out["calibration"] = {
        "ece": expected_calibration_error(y, p, ECE_BINS),
        "brier": brier_score(y, p),
        "n_bins": ECE_BINS,
    }
    out["pairs"] = (
        None if pairs is None else pairwise(pairs, p, threshold, opts.n_boot, opts.seed, opts.alpha)
    )
    return out


def defined_at_threshold(at: dict[str, Any], names: Sequence[str]) -> dict[str, float | None]:
    """``names`` of ``at`` (:func:`vulnfusion.metrics.binary_report`) with ``None`` where the
    metric is undefined — precision with no predicted positive (TP + FP = 0), recall with no
    positive (TP + FN = 0), F1 with neither — instead of the 0 of sklearn's
    ``zero_division=0``, which reads as "every alert was wrong" when no alert was raised.

    Returns:
        ``{name: value or None}`` in the order of ``names``.
    """
    tp, fp, fn = at["tp"], at["fp"], at["fn"]
    undefined = {
        "precision": tp + fp == 0,
        "recall": tp + fn == 0,
        "f1": tp + fp + fn == 0,
    }
    return {k: None if undefined.get(k, False) else at[k] for k in names}


def groups(data: Scored, threshold: float) -> dict[str, dict[str, dict[str, Any]]]:
    """Per-``project`` and per-``cwe`` figures (no intervals), only for fields some row has.

    ``{field: {value: {n, n_positive, accuracy, precision, recall, f1, roc_auc, pr_auc,
    n_pairs, p_c, vulnerable_scores_higher}}}``; AUCs ``None`` for a one-class group;
    ``n_pairs``/``p_c``/``vulnerable_scores_higher`` count pairs with both twins in the group
    (``None`` without pairs). Sorted by value.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in GROUP_FIELDS:
        values: Sequence[str | None] = getattr(data, name)
        present = sorted({v for v in values if v is not None})
        if not present:
            continue
        out[name] = {}
        for value in present:
            rows = np.flatnonzero(np.array([v == value for v in values]))
            out[name][value] = _group_row(data.subset(rows), threshold)
    return out


def _group_row(sub: Scored, threshold: float) -> dict[str, Any]:
    at = binary_report(sub.y, sub.prob, threshold)
    row: dict[str, Any] = {"n": int(sub.y.size), "n_positive": int(sub.y.sum())}
    row.update(defined_at_threshold(at, GROUP_METRICS))
    row["roc_auc"], row["pr_auc"] = roc_auc(sub.y, sub.prob), pr_auc(sub.y, sub.prob)
    pairs: Pairs | None = None
    if any(x is not None for x in sub.pair_id):
        pairs = find_pairs(sub.y, sub.pair_id, sub.func)
    row["n_pairs"] = None if pairs is None else pairs.n
    row["p_c"] = row["vulnerable_scores_higher"] = None
    if pairs is not None and pairs.n:
        figs = pairwise(pairs, sub.prob, threshold)
        row["p_c"] = figs["p_c"]["value"]
        row["vulnerable_scores_higher"] = figs["vulnerable_scores_higher"]["value"]
    return row


def duplicates(funcs: Sequence[str], labels: Sequence[int]) -> dict[str, int]:
    """Rows repeating an earlier row's text and label exactly: ``{"n_rows"`` (the copies
    beyond the first), ``"n_texts"`` (texts repeated)``}``. They stay in the figures (each
    row is one scored input, as ``prepare`` leaves its own input's duplicates to the
    dedup step); the report counts and warns."""
    seen: dict[tuple[str, int], int] = {}
    for f, label in zip(funcs, labels, strict=True):
        key = (f, int(label))
        seen[key] = seen.get(key, 0) + 1
    extra = [c - 1 for c in seen.values() if c > 1]
    return {"n_rows": sum(extra), "n_texts": len(extra)}


def data_warnings(figs: dict[str, Any], dups: dict[str, int]) -> list[str]:
    """One line per malformed ``pair_id`` kind and for exact duplicate rows (empty: none)."""
    out = []
    if dups["n_rows"]:
        out.append(
            f"{dups['n_rows']} rows repeat another row exactly (text and label; "
            f"{dups['n_texts']} texts): they are scored and counted like the others"
        )
    pairs = figs.get("pairs") or {}
    bad = pairs.get("malformed", {})
    what = {
        "more_than_two": "pair_id groups have more than two rows",
        "same_label": "pair_id groups have the same label twice",
        "identical": "pairs have byte-identical twins (vulnerable and fixed text the same)",
        "singleton": "pair_id values have a single row",
    }
    for kind, text in what.items():
        if bad.get(kind):
            out.append(f"{bad[kind]} {text}: left out of the pair-wise figures")
    return out


@dataclass(frozen=True)
class Overlap:
    """Which evaluation rows duplicate a training function (bool arrays of shape (n,))."""

    exact: NDArray[np.bool_]
    normalized: NDArray[np.bool_]  # a normalised match (includes every exact one)

    @property
    def any(self) -> NDArray[np.bool_]:
        return self.exact | self.normalized

    def summary(self) -> dict[str, Any]:
        """``{available, n_exact, n_normalized_only, n_overlap, share}``."""
        n = int(self.exact.size)
        return {
            "available": True,
            "n_exact": int(self.exact.sum()),
            "n_normalized_only": int((self.normalized & ~self.exact).sum()),
            "n_overlap": int(self.any.sum()),
            "share": float(self.any.sum() / n) if n else 0.0,
        }


def find_overlap(funcs: Sequence[str], train: Fingerprints) -> Overlap:
    """Rows of ``funcs`` whose exact or whitespace/comment-normalised text is in ``train``
    (:mod:`vulnfusion.data.fingerprint`)."""
    exact = np.array([exact_hash(f) in train.exact for f in funcs], dtype=bool)
    norm = np.array([normalized_hash(f) in train.normalized for f in funcs], dtype=bool)
    return Overlap(exact, norm | exact)


def rows_without_overlap(data: Scored, overlap: Overlap) -> NDArray[np.int64]:
    """Rows to keep once overlapping functions go; a pair loses both twins if either overlaps."""
    drop = overlap.any.copy()
    ids = [pid for pid, d in zip(data.pair_id, drop, strict=True) if d and pid is not None]
    if ids:
        gone = set(ids)
        drop |= np.array([pid in gone for pid in data.pair_id], dtype=bool)
    return np.flatnonzero(~drop)
