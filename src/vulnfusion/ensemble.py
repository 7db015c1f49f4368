"""Seed ensembles: average the seeds' logits (aligned by example id), sweep the threshold on
valid, report test, and compare the ensemble with its best single seed.

The best single seed is the one with the highest *valid* F1 (test never chooses anything);
the paired bootstrap then resamples the test set once per draw for both, so the interval
is for the difference itself, not two independent intervals.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vulnfusion import tracking
from vulnfusion.errors import VulnfusionError
from vulnfusion.features import SplitFeatures, load_features
from vulnfusion.io import atomic_dir, read_json, write_json
from vulnfusion.metrics import Headline, evaluation_report, paired_bootstrap_diff, sigmoid
from vulnfusion.paths import EVAL_SPLITS
from vulnfusion.plots import plot_seed_vs_ensemble
from vulnfusion.runs.outputs import log_run_outputs, logits_by_id, write_run_outputs
from vulnfusion.runs.scoring import recompute_logits

log = logging.getLogger(__name__)


class AggregationError(VulnfusionError, ValueError):
    """Seeds that cannot be ensembled (missing, misaligned, NaN): one-line message."""


@dataclass(frozen=True)
class SeedLogits:
    seed: int
    logits: dict[str, np.ndarray]  # split → (N,) aligned with the split's id order
    metrics: dict[str, Any]


def read_seed_logits(seed_dir: Path) -> dict[str, dict[str, float]]:
    path = seed_dir / "logits.json"
    if not path.exists():
        raise AggregationError(f"{path}: missing (train this seed first, e.g. dvc repro)")
    data: dict[str, dict[str, float]] = read_json(path)
    return data


def align(by_id: dict[str, float], ids: list[str], where: str) -> np.ndarray:
    """Logits in ``ids`` order; any missing or extra id is an error."""
    if len(by_id) != len(ids) or by_id.keys() != set(ids):
        missing = len(set(ids) - by_id.keys())
        extra = len(by_id.keys() - set(ids))
        raise AggregationError(
            f"{where}: example ids differ from the labelled split "
            f"({missing} missing, {extra} unexpected)"
        )
    arr = np.fromiter((by_id[i] for i in ids), dtype=np.float64, count=len(ids))
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise AggregationError(f"{where}: {bad} logits are NaN or infinite")
    return arr


def load_seeds(
    track_dir: Path,
    seeds: tuple[int, ...],
    splits: dict[str, SplitFeatures],
    recompute_with: Any = None,
) -> list[SeedLogits]:
    """Every seed's valid/test logits aligned to the features' id order."""
    out = []
    for seed in seeds:
        seed_dir = track_dir / f"seed_{seed}"
        if not seed_dir.is_dir():
            raise AggregationError(f"{seed_dir}: seed {seed} of {list(seeds)} is missing")
        raw = recompute_with(seed_dir) if recompute_with else read_seed_logits(seed_dir)
        logits = {s: align(raw.get(s, {}), splits[s].ids, f"{seed_dir} ({s})") for s in EVAL_SPLITS}
        metrics_path = seed_dir / "metrics.json"
        metrics = read_json(metrics_path) if metrics_path.exists() else {}
        out.append(SeedLogits(seed, logits, metrics))
    return out


def _seed_summary(y: dict[str, np.ndarray], seed_logits: list[SeedLogits]) -> list[dict[str, Any]]:
    rows = []
    for s in seed_logits:
        m = evaluation_report(y["valid"], s.logits["valid"], y["test"], s.logits["test"])
        h = Headline.from_report(m)
        rows.append(
            {
                "seed": s.seed,
                "valid_f1": m["f1_at_best_threshold"],
                "threshold": h.threshold,
                "test_f1": h.test_f1,
                "test_accuracy_at_0_5": h.test_accuracy_at_0_5,
                "test_roc_auc": h.test_roc_auc,
                "test_pr_auc": h.test_pr_auc,
            }
        )
    return rows


def aggregate(
    track: str,
    seed_logits: list[SeedLogits],
    splits: dict[str, SplitFeatures],
    n_boot: int,
    boot_seed: int,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ensemble metrics dict (``ensemble_metrics.json``) and the ensemble logits."""
    y = {s: splits[s].arrays["labels"] for s in EVAL_SPLITS}
    ens = {s: np.mean([sl.logits[s] for sl in seed_logits], axis=0) for s in EVAL_SPLITS}
    metrics = evaluation_report(y["valid"], ens["valid"], y["test"], ens["test"])
    rows = _seed_summary(y, seed_logits)
    best = max(rows, key=lambda r: (r["valid_f1"], -r["seed"]))  # chosen on valid
    best_logits = next(sl for sl in seed_logits if sl.seed == best["seed"]).logits["test"]
    test_f1 = np.array([r["test_f1"] for r in rows])
    diff = paired_bootstrap_diff(
        y["test"],
        sigmoid(ens["test"]),
        metrics["best_threshold_by_f1"],
        sigmoid(best_logits),
        best["threshold"],
        metric="f1",
        n_boot=n_boot,
        seed=boot_seed,
    )
    metrics.update(
        {
            "track": track,
            "seeds": [sl.seed for sl in seed_logits],
            "num_seeds": len(seed_logits),
            "per_seed_f1_at_best_threshold": [r["valid_f1"] for r in rows],
            "per_seed_test_f1": test_f1.tolist(),
            "per_seed_mean_f1": float(test_f1.mean()),
            "per_seed_std_f1": float(test_f1.std(ddof=1)) if len(rows) > 1 else 0.0,
            "per_seed": rows,
            "best_single_seed": {
                "seed": best["seed"],
                "chosen_by": "valid f1_at_best_threshold",
                "test_f1": best["test_f1"],
            },
            "ensemble_minus_best_seed_test_f1": {**diff, "n_boot": n_boot, "alpha": 0.05},
            "degraded": any(bool(sl.metrics.get("degraded")) for sl in seed_logits),
        }
    )
    return metrics, ens


def aggregate_track(
    cfg: Any,
    track: str,
    input_dir: str | Path,
    output: str | Path,
    features_dir: str | Path,
    recompute: bool,
    stage: str,
) -> dict[str, Any]:
    """The ``aggregate@<track>`` stage: ensemble metrics, logits, figures and an MLflow run."""
    input_dir, output = Path(input_dir), Path(output)
    feats = load_features(features_dir)
    redo = (lambda d: recompute_logits(d, feats)) if recompute else None
    seeds = load_seeds(input_dir, cfg.seeds, feats.splits, redo)
    metrics, ens = aggregate(
        track, seeds, feats.splits, cfg.aggregate.n_bootstrap, cfg.aggregate.bootstrap_seed
    )
    metrics["recomputed"] = recompute
    ens_dir = output.parent / "ensemble"
    with atomic_dir(ens_dir) as tmp:
        write_run_outputs(tmp, metrics, logits_by_id(feats, ens), [], f"{track} ensemble")
        plot_seed_vs_ensemble(
            {
                track: {
                    "seed_f1": metrics["per_seed_test_f1"],
                    "ensemble_f1": Headline.from_report(metrics).test_f1,
                }
            },
            tmp / "figures" / "seed_vs_ensemble.png",
        )
    write_json(output, metrics)
    tags = tracking.run_tags(cfg, track, None, stage, feats.data_hash, metrics["degraded"])
    with tracking.start_run(cfg, f"{track}-ensemble", tags) as run:
        log_run_outputs(run, ens_dir, metrics)
        run.log_artifacts(output)
    # `register` logs the model into this very run (found by id, not by name)
    write_json(
        ens_dir / "mlflow_run.json",
        {"run_id": run.run_id, "tracking_uri": tracking.tracking_uri(cfg)},
    )
    return metrics
