"""Seed ensembles: average the seeds' logits (aligned by example id), calibrate them with a
temperature fitted on valid, choose the decision threshold on valid, report test, and compare
the ensemble with its best single seed.

Probability scale (one for everything a track's ensemble reports and serves): the calibrated
``p = sigmoid(mean_logit / T)``, ``T`` fitted on **valid** by temperature scaling
(:mod:`vulnfusion.calibration`; test never fits anything). The threshold sweep, the
decision threshold (``register.threshold_policy``, :mod:`vulnfusion.thresholds`), every test
figure, ``probabilities.json`` and the registered model's ``probability``/``label`` are all
on that scale, so scoring the test split with the registered model reproduces them. Ranking
metrics (ROC-AUC, PR-AUC) do not change with ``T``. ``logits.json`` keeps the raw mean logits.

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
from vulnfusion.calibration import (
    ECE_BINS,
    apply_temperature,
    brier_score,
    expected_calibration_error,
    fit_temperature,
)
from vulnfusion.errors import VulnfusionError
from vulnfusion.features import SplitFeatures, load_features
from vulnfusion.io import atomic_dir, read_json, write_json
from vulnfusion.metrics import (
    Headline,
    binary_report,
    evaluation_report,
    paired_bootstrap_diff,
    sigmoid,
)
from vulnfusion.paths import EVAL_SPLITS
from vulnfusion.paths import seed_dir as seed_path
from vulnfusion.plots import plot_seed_vs_ensemble
from vulnfusion.runs.outputs import log_run_outputs, logits_by_id, write_run_outputs
from vulnfusion.runs.scoring import recompute_logits
from vulnfusion.thresholds import choose_threshold

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
        seed_dir = seed_path(track_dir.parent, track_dir.name, seed)
        if not seed_dir.is_dir():
            raise AggregationError(f"{seed_dir}: seed {seed} of {list(seeds)} is missing")
        raw = recompute_with(seed_dir) if recompute_with else read_seed_logits(seed_dir)
        logits = {s: align(raw.get(s, {}), splits[s].ids, f"{seed_dir} ({s})") for s in EVAL_SPLITS}
        metrics_path = seed_dir / "metrics.json"
        metrics = read_json(metrics_path) if metrics_path.exists() else {}
        out.append(SeedLogits(seed, logits, metrics))
    return out


def _seed_summary(
    y: dict[str, np.ndarray],
    seed_logits: list[SeedLogits],
    policy: str = "max_f1",
    target: float | None = None,
) -> list[dict[str, Any]]:
    """Each seed on its own (uncalibrated) scale; its decision threshold follows the same
    policy as the ensemble's (for max_f1 exactly the seed's ``best_threshold_by_f1``)."""
    rows = []
    for s in seed_logits:
        m = evaluation_report(y["valid"], s.logits["valid"], y["test"], s.logits["test"])
        h = Headline.from_report(m)
        thr = choose_threshold(y["valid"], sigmoid(s.logits["valid"]), policy, target).value
        rows.append(
            {
                "seed": s.seed,
                "valid_f1": m["f1_at_best_threshold"],
                "threshold": thr,
                "test_f1": binary_report(y["test"], sigmoid(s.logits["test"]), thr)["f1"],
                "test_accuracy_at_0_5": h.test_accuracy_at_0_5,
                "test_roc_auc": h.test_roc_auc,
                "test_pr_auc": h.test_pr_auc,
            }
        )
    return rows


def calibration_block(
    y: dict[str, np.ndarray], logits: dict[str, np.ndarray], temperature: float
) -> dict[str, Any]:
    """``ensemble_metrics.json["calibration"]``: the temperature and, per split, ECE and Brier
    before (``sigmoid(logit)``) and after (``sigmoid(logit / T)``) calibration.

    Keys: ``method`` ("temperature"), ``fitted_on`` ("valid"), ``temperature``, ``ece_bins``
    (15, equal-mass), and ``valid``/``test`` each with ``ece_before``, ``ece_after``,
    ``brier_before``, ``brier_after`` (all in [0, 1], lower is better).
    """
    out: dict[str, Any] = {
        "method": "temperature",
        "fitted_on": "valid",
        "temperature": float(temperature),
        "ece_bins": ECE_BINS,
    }
    for split in EVAL_SPLITS:
        before, after = sigmoid(logits[split]), apply_temperature(logits[split], temperature)
        out[split] = {
            "ece_before": expected_calibration_error(y[split], before),
            "ece_after": expected_calibration_error(y[split], after),
            "brier_before": brier_score(y[split], before),
            "brier_after": brier_score(y[split], after),
        }
    return out


def aggregate(
    track: str,
    seed_logits: list[SeedLogits],
    splits: dict[str, SplitFeatures],
    n_boot: int,
    boot_seed: int,
    policy: str = "max_f1",
    target: float | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ensemble metrics dict (``ensemble_metrics.json``) and the ensemble's raw mean logits.

    The report is computed on the calibrated logits ``mean_logit / T`` (module docstring);
    ``threshold`` holds the valid-chosen decision threshold (:mod:`vulnfusion.thresholds`)
    at which ``test.at_valid_threshold`` is measured, ``calibration`` the temperature and
    ECE/Brier before and after (:func:`calibration_block`).
    """
    y = {s: splits[s].arrays["labels"] for s in EVAL_SPLITS}
    ens = {s: np.mean([sl.logits[s] for sl in seed_logits], axis=0) for s in EVAL_SPLITS}
    temperature = fit_temperature(y["valid"], ens["valid"])  # valid only: test is never fitted
    if not 0.02 < temperature < 54.0:  # at fit_temperature's search bound, e^-4 or e^4
        log.warning(
            "%s ensemble: temperature %.4g is at the search bound: its valid logits carry "
            "(almost) no signal (or the wrong sign) for calibration to scale",
            track,
            temperature,
        )
    cal = {s: ens[s] / temperature for s in EVAL_SPLITS}  # sigmoid(cal) = calibrated probability
    metrics = evaluation_report(y["valid"], cal["valid"], y["test"], cal["test"])
    prob = {s: apply_temperature(ens[s], temperature) for s in EVAL_SPLITS}
    choice = choose_threshold(y["valid"], prob["valid"], policy, target)
    metrics["threshold"] = choice.to_dict()
    metrics["test"]["at_valid_threshold"] = binary_report(y["test"], prob["test"], choice.value)
    metrics["calibration"] = calibration_block(y, ens, temperature)
    rows = _seed_summary(y, seed_logits, policy, target)
    best = max(rows, key=lambda r: (r["valid_f1"], -r["seed"]))  # chosen on valid
    best_logits = next(sl for sl in seed_logits if sl.seed == best["seed"]).logits["test"]
    test_f1 = np.array([r["test_f1"] for r in rows])
    diff = paired_bootstrap_diff(
        y["test"],
        prob["test"],
        choice.value,
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


def probabilities_by_id(
    feats: Any, ens: dict[str, np.ndarray], temperature: float
) -> dict[str, dict[str, float]]:
    """``probabilities.json``: ``{split: {example id: sigmoid(mean_logit / T)}}``, the
    probabilities the registered model returns for the same functions."""
    cal = {s: apply_temperature(ens[s], temperature) for s in EVAL_SPLITS}
    return logits_by_id(feats, cal)


def _calibration_scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The MLflow metrics of the calibration block: ``calibration/temperature`` and
    ``calibration/<split>/<ece|brier>_<before|after>``."""
    c = metrics["calibration"]
    out = {"calibration/temperature": float(c["temperature"])}
    for split in EVAL_SPLITS:
        out.update({f"calibration/{split}/{k}": float(v) for k, v in c[split].items()})
    out["threshold/value"] = float(metrics["threshold"]["value"])
    return out


def aggregate_track(
    cfg: Any,
    track: str,
    input_dir: str | Path,
    output: str | Path,
    features_dir: str | Path,
    recompute: bool,
    stage: str,
) -> dict[str, Any]:
    """The ``aggregate@<track>`` stage: ensemble metrics (calibrated, threshold by
    ``register.threshold_policy``), raw logits, calibrated probabilities, figures, MLflow run."""
    input_dir, output = Path(input_dir), Path(output)
    feats = load_features(features_dir)
    redo = (lambda d: recompute_logits(d, feats)) if recompute else None
    seeds = load_seeds(input_dir, cfg.seeds, feats.splits, redo)
    metrics, ens = aggregate(
        track,
        seeds,
        feats.splits,
        cfg.aggregate.n_bootstrap,
        cfg.aggregate.bootstrap_seed,
        cfg.register.threshold_policy,
        cfg.register.threshold_target,
    )
    metrics["recomputed"] = recompute
    ens_dir = output.parent / "ensemble"
    temperature = metrics["calibration"]["temperature"]
    with atomic_dir(ens_dir) as tmp:
        write_run_outputs(tmp, metrics, logits_by_id(feats, ens), [], f"{track} ensemble")
        write_json(tmp / "probabilities.json", probabilities_by_id(feats, ens, temperature))
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
        # one value each, at step 0 (what mlflow.log_metrics writes without a step)
        run.log_epoch(_calibration_scalars(metrics), step=0)
        run.log_artifacts(output)
    # `register` logs the model into this very run (found by id, not by name)
    write_json(
        ens_dir / "mlflow_run.json",
        {"run_id": run.run_id, "tracking_uri": tracking.tracking_uri(cfg)},
    )
    return metrics
