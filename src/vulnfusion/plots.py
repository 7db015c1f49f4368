"""Report figures, rendered headless and written atomically.

Figures are built with the object-oriented API (``matplotlib.figure.Figure`` on an explicit
Agg canvas) instead of ``pyplot``: nothing is registered with pyplot's global figure
manager, the process-wide backend is never switched (safe inside notebooks and worker
threads), and a figure cannot leak if saving fails. Each PNG goes to a temp file beside
the target and is moved into place with ``os.replace``, so readers never see half a file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

from vulnfusion.io import atomic_path

CLASS_NAMES = ("not vulnerable", "vulnerable")
BRANCH_ORDER = ("transformer", "gnn")
_DPI = 120


def _new_figure(width: float, height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    return fig, fig.add_subplot()


def _save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG atomically; the temp name has no .png suffix, so name the format."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        fig.clear()  # drop artists promptly; the Figure is not tracked by pyplot
    return path


def plot_confusion_matrix(cm: Sequence[Sequence[int]], title: str, path: str | Path) -> Path:
    """Annotated 2x2 heatmap of ``[[tn, fp], [fn, tp]]`` (rows actual, columns predicted).

    Each cell shows the count and its share of the row (i.e. per-class recall / miss rate).
    """
    arr = np.asarray(cm)
    if arr.shape != (2, 2) or not np.issubdtype(arr.dtype, np.number) or (arr < 0).any():
        raise ValueError(f"cm must be a 2x2 matrix of non-negative counts; got {cm!r}")
    row_share = arr / np.maximum(arr.sum(axis=1, keepdims=True), 1)
    fig, ax = _new_figure(4.6, 4.0)
    image = ax.imshow(row_share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of actual class")
    for (i, j), count in np.ndenumerate(arr):
        # White text on dark cells, black on light ones, so every number stays legible.
        colour = "white" if row_share[i, j] > 0.5 else "black"
        text = f"{int(count)}\n({row_share[i, j]:.1%})"
        ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=11)
    ax.set_xticks([0, 1], labels=list(CLASS_NAMES))
    ax.set_yticks([0, 1], labels=list(CLASS_NAMES), rotation=90, va="center")
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    return _save(fig, path)


def plot_threshold_curve(
    sweep: Sequence[Mapping[str, Any]], best: float, path: str | Path, title: str = ""
) -> Path:
    """Precision, recall and F1 against threshold, with vertical lines at ``best`` and 0.5."""
    if not sweep:
        raise ValueError("sweep is empty; nothing to plot")
    try:
        t = np.array([float(row["threshold"]) for row in sweep])
        curves = {
            k: np.array([float(row[k]) for row in sweep]) for k in ("precision", "recall", "f1")
        }
    except KeyError as exc:
        raise ValueError(f"sweep rows need threshold/precision/recall/f1; missing {exc}") from None
    fig, ax = _new_figure(6.0, 4.0)
    for name, values in curves.items():
        ax.plot(t, values, label=name, linewidth=2 if name == "f1" else 1.3)
    ax.axvline(0.5, color="grey", linestyle=":", label="threshold 0.5")
    ax.axvline(float(best), color="crimson", linestyle="--", label=f"best by F1 = {best:.2f}")
    ax.set_xlabel("threshold (predict vulnerable if p >= threshold)")
    ax.set_ylabel("score")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "threshold sweep (valid)")
    return _save(fig, path)


def _seed_stats(track: str, entry: Mapping[str, Any]) -> tuple[NDArray[np.float64], float]:
    try:
        seeds = np.asarray(entry["seed_f1"], dtype=np.float64)
        ensemble = float(entry["ensemble_f1"])
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"track {track!r} needs 'seed_f1' (list) and 'ensemble_f1'; {exc}"
        ) from None
    if seeds.ndim != 1 or seeds.size == 0:
        raise ValueError(f"track {track!r}: seed_f1 must be a non-empty list of numbers")
    return seeds, ensemble


def _draw_track(ax: Axes, x: int, seeds: NDArray[np.float64], ensemble: float) -> None:
    std = float(seeds.std(ddof=1)) if seeds.size > 1 else 0.0
    first = x == 0  # label once so the legend has one entry per series
    left, right = x - 0.12, x + 0.12
    ax.scatter(np.full(seeds.size, left), seeds, s=12, color="grey", alpha=0.6,
               label="single seed" if first else None)  # fmt: skip
    ax.errorbar(left, seeds.mean(), yerr=std, fmt="o", color="tab:blue", capsize=5,
                label="seed mean ± std" if first else None)  # fmt: skip
    ax.scatter(right, ensemble, marker="*", s=160, color="tab:orange", zorder=3,
               label="ensemble" if first else None)  # fmt: skip
    ax.annotate(f"{ensemble - seeds.mean():+.3f}", (right, ensemble),
                textcoords="offset points", xytext=(8, 0), va="center", fontsize=8)  # fmt: skip


def plot_seed_vs_ensemble(per_track: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Per track: mean ± std of the per-seed F1 (error bar, seeds as dots) vs ensemble F1.

    ``per_track`` is ``{track: {"seed_f1": [...], "ensemble_f1": float}}``. The std is the
    sample std (ddof=1), 0 for a single seed; the number beside each ensemble marker is
    ensemble F1 minus the seed mean.
    """
    if not per_track:
        raise ValueError("per_track is empty; nothing to plot")
    stats = [_seed_stats(track, entry) for track, entry in per_track.items()]
    fig, ax = _new_figure(max(4.0, 1.6 * len(stats) + 2.0), 4.0)
    for x, (seeds, ensemble) in enumerate(stats):
        _draw_track(ax, x, seeds, ensemble)
    ax.set_xticks(range(len(stats)), labels=list(per_track))
    ax.set_xlim(-0.6, len(stats) - 0.4)
    ax.set_ylabel("F1")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title("seed ensemble vs single seeds")
    return _save(fig, path)


def plot_fusion_vs_branches(f1: Mapping[str, float], path: str | Path) -> Path:
    """Bars of F1 for transformer, gnn (and any other branch) and fusion, with the delta.

    ``f1`` must contain ``"fusion"`` and at least one single branch; the annotated delta is
    fusion minus the best single branch.
    """
    if "fusion" not in f1 or len(f1) < 2:
        raise ValueError(f"f1 needs 'fusion' and at least one branch; got keys {sorted(f1)}")
    branches = [k for k in BRANCH_ORDER if k in f1] + sorted(
        k for k in f1 if k not in BRANCH_ORDER and k != "fusion"
    )
    names = [*branches, "fusion"]
    values = [float(f1[k]) for k in names]
    if not all(np.isfinite(values)):
        raise ValueError(f"f1 values must be finite numbers; got {dict(f1)!r}")
    best_branch = max(branches, key=lambda k: float(f1[k]))
    delta = values[-1] - float(f1[best_branch])
    fig, ax = _new_figure(max(4.0, 1.3 * len(names) + 1.5), 4.0)
    bars = ax.bar(names, values, color=["tab:blue"] * len(branches) + ["tab:green"])
    # The delta rides on the fusion bar's own label, so it stays legible at any bar height.
    labels = [f"{v:.3f}" for v in values[:-1]] + [
        f"{values[-1]:.3f}\n({delta:+.3f} vs {best_branch})"
    ]
    ax.bar_label(bars, labels=labels, padding=2, fontsize=9)
    ax.axhline(float(f1[best_branch]), color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(0.0, max(1.0, max(values) + 0.15))
    ax.set_ylabel("F1")
    ax.set_title(f"fusion vs best single branch: {delta:+.3f} F1")
    return _save(fig, path)
