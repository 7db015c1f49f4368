"""The files a finished run writes, its manifest, and their copy in MLflow.

``outputs/<track>/seed_<k>/``: ``metrics.json`` (DESIGN §6 parity keys on valid + the
``test`` block), ``logits.json`` (valid and test logits keyed by example id),
``history.csv`` (one row per epoch, a DVC plot), ``threshold_sweep.csv`` and ``figures/``
(confusion matrices, threshold curve); the checkpoint files come from ``checkpoints``.
The aggregate stage writes the same files for a seed ensemble.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np

from vulnfusion.features import Features
from vulnfusion.io import sha256_file, write_json, write_text
from vulnfusion.metrics import Headline
from vulnfusion.paths import EVAL_SPLITS, manifest_path
from vulnfusion.plots import plot_confusion_matrix, plot_threshold_curve
from vulnfusion.tracking import RunLogger

log = logging.getLogger("vulnfusion")


def logits_by_id(feats: Features, logits: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Valid/test logits in row order → ``{split: {example id: logit}}`` (``logits.json``)."""
    return {
        s: dict(zip(feats.splits[s].ids, map(float, logits[s]), strict=True)) for s in EVAL_SPLITS
    }


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    """One CSV row per epoch (``/`` in metric names becomes ``_``); nothing when empty."""
    if not history:
        return
    keys = list(history[0])
    lines = [",".join(k.replace("/", "_") for k in keys)]
    lines += [",".join(f"{row[k]:.6g}" for k in keys) for row in history]
    write_text(path, "\n".join(lines) + "\n")


def write_sweep(path: Path, sweep: list[dict[str, Any]]) -> None:
    """The valid threshold sweep as CSV (one row per threshold)."""
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(sweep[0]))
        w.writeheader()
        w.writerows(sweep)


def write_figures(fig_dir: Path, metrics: dict[str, Any], title: str) -> None:
    """Confusion matrices at 0.5 and at the chosen threshold, and the threshold curve."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    thr = metrics["best_threshold_by_f1"]
    plot_confusion_matrix(
        metrics["confusion_matrix_at_0_5"],
        f"{title} valid @0.50",
        fig_dir / "confusion_matrix_at_0_5.png",
    )
    plot_confusion_matrix(
        metrics["confusion_matrix_at_best_threshold"],
        f"{title} valid @{thr:.2f}",
        fig_dir / "confusion_matrix_at_best_threshold.png",
    )
    plot_threshold_curve(metrics["threshold_sweep"], thr, fig_dir / "threshold_curve.png", title)


def write_run_outputs(
    out: Path,
    metrics: dict[str, Any],
    logits: dict[str, dict[str, float]],
    history: list[dict[str, float]],
    title: str,
) -> None:
    """The per-run files every track writes (into a directory being built atomically)."""
    write_json(out / "metrics.json", metrics)
    write_json(out / "logits.json", logits)
    write_history(out / "history.csv", history)
    write_sweep(out / "threshold_sweep.csv", metrics["threshold_sweep"])
    write_figures(out / "figures", metrics, title)


def write_manifest(out_dir: Path, track: str, seed: int) -> Path:
    """A receipt of a finished seed run (content hash of each file in its directory).

    Downstream stages depend on ``outputs/<track>/manifests``: one DVC dependency that covers
    whatever seeds params.yaml lists, without overlapping ``ensemble_metrics.json``.
    """
    files = {
        p.relative_to(out_dir).as_posix(): sha256_file(p)
        for p in sorted(out_dir.rglob("*"))
        if p.is_file()
    }
    return write_json(
        manifest_path(out_dir), {"track": track, "seed": seed, "dir": str(out_dir), "files": files}
    )


def log_run_outputs(run: RunLogger, out_dir: Path, metrics: dict[str, Any]) -> None:
    """The run's metrics, sweep table and output files into its MLflow run."""
    run.log_parity(metrics)
    run.log_sweep(metrics["threshold_sweep"])
    for name in ("metrics.json", "history.csv", "threshold_sweep.csv", "checkpoint.json"):
        if (out_dir / name).exists():
            run.log_artifacts(out_dir / name)
    run.log_artifacts(out_dir / "figures", "figures")


def log_summary(track: str, seed: int, m: dict[str, Any]) -> None:
    """The one line a finished per-seed stage prints."""
    if not m:
        return  # a non-zero torchrun rank: rank 0 reports
    headline = Headline.from_report(m)
    log.info(
        "%s seed %d%s: valid F1 %.4f @%.2f, test F1 %.4f, test ROC-AUC %s",
        track,
        seed,
        " (DEGRADED)" if m.get("degraded") else "",
        m["f1_at_best_threshold"],
        m["best_threshold_by_f1"],
        headline.test_f1,
        headline.test_roc_auc,
    )
