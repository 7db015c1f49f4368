"""The evaluation figures: ROC, precision-recall, reliability diagram, score histograms.

House style of :mod:`vulnfusion.plots`: object-oriented matplotlib on an Agg canvas, PNGs
written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from numpy.typing import NDArray

from vulnfusion.calibration import ECE_BINS, reliability_bins
from vulnfusion.plots import CLASS_NAMES, _new_figure, _save

FIGURES = ("roc.png", "pr.png", "reliability.png", "score_hist.png")


def _curve_points(y: NDArray[np.int64], p: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """Cumulative (tp, fp) at each distinct score, highest first, starting at (0, 0)."""
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), ps.size - 1]  # end of each tied block
    tp = np.r_[0, np.cumsum(ys)[last]].astype(np.float64)
    fp = np.r_[0, np.cumsum(1 - ys)[last]].astype(np.float64)
    return tp, fp


def plot_roc(y: NDArray[np.int64], p: NDArray[np.float64], auc: float | None, path: Path) -> Path:
    """ROC curve with the chance diagonal; the AUC in the title. With one class there is no
    curve (one of its axes would be 0/0, drawn as a misleading vertical or horizontal line):
    the axes carry the text "one class: no AUC"."""
    fig, ax = _new_figure(4.6, 4.2)
    if _one_class(y):
        _no_curve(ax, "one class: no AUC")
    else:
        tp, fp = _curve_points(y, p)
        ax.plot(fp / fp[-1], tp / tp[-1], linewidth=2, label="model")
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate (recall)")
    ax.set_title(f"ROC (AUC {auc:.3f})" if auc is not None else "ROC (one class: no AUC)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _one_class(y: NDArray[np.int64]) -> bool:
    return bool(y.size == 0 or y.min() == y.max())


def _no_curve(ax: Axes, text: str) -> None:
    """An empty unit square with ``text`` in the middle, for a curve that is undefined."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11)


def plot_pr(y: NDArray[np.int64], p: NDArray[np.float64], ap: float | None, path: Path) -> Path:
    """Precision against recall (a step per distinct score), with the positive rate; with one
    class no curve, the text "one class: no AP" (as :func:`plot_roc`)."""
    fig, ax = _new_figure(4.6, 4.2)
    if _one_class(y):
        _no_curve(ax, "one class: no AP")
    else:
        tp, fp = _curve_points(y, p)
        recall = tp[1:] / tp[-1]
        precision = tp[1:] / np.maximum(tp[1:] + fp[1:], 1)
        ax.step(np.r_[0, recall], np.r_[precision[:1], precision], where="post", linewidth=2)
        ax.axhline(float(y.mean()), color="grey", linestyle=":", label="share vulnerable")
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"precision-recall (AP {ap:.3f})" if ap is not None else "precision-recall")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_reliability(y: NDArray[np.int64], p: NDArray[np.float64], ece: float, path: Path) -> Path:
    """Reliability diagram: share vulnerable against mean probability per equal-mass bin."""
    bins = reliability_bins(y, p, ECE_BINS)
    fig, ax = _new_figure(4.6, 4.2)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    ax.plot(bins.confidence, bins.accuracy, marker="o", linewidth=1.5, label="model")
    ax.set_xlabel(f"mean predicted probability ({ECE_BINS} equal-mass bins)")
    ax.set_ylabel("share vulnerable")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"reliability (ECE {ece:.3f})")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def plot_score_hist(
    y: NDArray[np.int64], p: NDArray[np.float64], threshold: float, path: Path
) -> Path:
    """Histograms of the probability for each label, with the model's threshold."""
    fig, ax = _new_figure(6.0, 4.0)
    edges = [i / 40 for i in range(41)]
    for label, colour in ((0, "tab:blue"), (1, "tab:red")):
        ax.hist(p[y == label], bins=edges, alpha=0.55, color=colour, label=CLASS_NAMES[label])
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set_xlabel("predicted probability of vulnerable")
    ax.set_ylabel("functions")
    ax.set_title("scores by label")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def write_figures(
    y: NDArray[np.int64],
    p: NDArray[np.float64],
    threshold: float,
    auc: float | None,
    ap: float | None,
    ece: float,
    out: Path,
) -> list[Path]:
    """All four figures into ``out`` (names in :data:`FIGURES`)."""
    out.mkdir(parents=True, exist_ok=True)
    return [
        plot_roc(y, p, auc, out / FIGURES[0]),
        plot_pr(y, p, ap, out / FIGURES[1]),
        plot_reliability(y, p, ece, out / FIGURES[2]),
        plot_score_hist(y, p, threshold, out / FIGURES[3]),
    ]
