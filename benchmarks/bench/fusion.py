"""Section ``fusion``: ``vulnfusion.runs.fusion.train_fusion`` per seed (seed 0, equal epochs) on a
Devign subset of ``subset_functions`` functions (prepared + featurized by the stages; branches
trained 1 epoch).

  fusion.cached_s, fusion.uncached_s (medians), fusion.cached_speedup (uncached_s / cached_s),
  fusion.cache_build_s (one-off frozen-feature cache build, excluded from cached_s),
  fusion.{cached,uncached}_epoch_s (median epoch_s from history.csv), fusion.epoch_speedup,
  fusion.metrics_identical (valid f1_at_best_threshold and test roc_auc within 1e-6),
  fusion.metrics_abs_diff, fusion.n_train, fusion.epochs, fusion.data, fusion.target (20),
  fusion.branch_train_s (the seed-0 branch stages, when this section trained them)
  Note: cached_s includes the per-seed fixed costs (loading, MLflow run, figures), so the
  whole-call speedup grows with n_train; epoch_speedup isolates the training epochs.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.context import TRACKS, Ctx, dig
from bench.inputs import project_env, read_history, subset_branch, subset_features, subset_params


def build_fusion_cache(ctx: Ctx, cfg: Any, features: Path, cache: Path) -> float:
    """The one-off frozen-feature cache for seed 0's branches; returns its build seconds."""
    import torch

    from vulnfusion.features import load_features
    from vulnfusion.runs.fusion import cached_features, load_branch

    feats = load_features(features)
    branches = [load_branch(t, subset_branch(ctx, t, 0), cfg, feats) for t in TRACKS]
    start = time.perf_counter()
    for b in branches:
        assert b is not None
        cached_features(b, feats, cache, torch.device("cpu"))
    return time.perf_counter() - start


def timed_fusion(ctx: Ctx, cfg: Any, out: Path, cache: Path | None) -> tuple[float, dict[str, Any]]:
    from vulnfusion.runs.fusion import train_fusion

    start = time.perf_counter()
    metrics = train_fusion(
        cfg,
        0,
        subset_features(ctx),
        out,
        subset_branch(ctx, "transformer", 0),
        subset_branch(ctx, "gnn", 0),
        cache,
        stage="bench_fusion",
    )
    return time.perf_counter() - start, metrics


def median_epoch_s(runs: list[Path]) -> float:
    return statistics.median(
        row["epoch_s"] for d in runs for row in read_history(d / "history.csv")
    )


def run(ctx: Ctx) -> dict[str, Any]:
    from vulnfusion.config import load_config

    epochs = ctx.sizes.fusion_epochs
    features = subset_features(ctx)
    root = ctx.tmp / "fusion_bench"
    with project_env(ctx):
        cfg = load_config(subset_params(ctx), {"fusion.train.epochs": epochs})
        build_s = build_fusion_cache(ctx, cfg, features, root / "cache")
        cached = [
            timed_fusion(ctx, cfg, root / f"cached_{i}", root / "cache")
            for i in range(ctx.sizes.fusion_cached_repeats)
        ]
        uncached = [
            timed_fusion(ctx, cfg, root / f"uncached_{i}", None)
            for i in range(ctx.sizes.fusion_uncached_repeats)
        ]
    c_s = statistics.median(t for t, _ in cached)
    u_s = statistics.median(t for t, _ in uncached)
    mc, mu = cached[0][1], uncached[0][1]
    diff = {
        "f1_at_best_threshold": abs(mc["f1_at_best_threshold"] - mu["f1_at_best_threshold"]),
        "test_roc_auc": abs(mc["test"]["roc_auc"] - mu["test"]["roc_auc"]),
    }
    c_ep = median_epoch_s([root / f"cached_{i}" for i in range(len(cached))])
    u_ep = median_epoch_s([root / f"uncached_{i}" for i in range(len(uncached))])
    n_train = json.loads((features / "stats.json").read_text())["splits"]["train"]["functions"]
    return {
        "cached_s": round(c_s, 2),
        "uncached_s": round(u_s, 2),
        "cached_speedup": round(u_s / c_s, 2),
        "cache_build_s": round(build_s, 2),
        "cached_epoch_s": round(c_ep, 3),
        "uncached_epoch_s": round(u_ep, 3),
        "epoch_speedup": round(u_ep / max(c_ep, 1e-9), 1),
        "metrics_identical": all(v <= 1e-6 for v in diff.values()),
        "metrics_abs_diff": {k: float(f"{v:.3g}") for k, v in diff.items()},
        "cached_runs_s": [round(t, 2) for t, _ in cached],
        "uncached_runs_s": [round(t, 2) for t, _ in uncached],
        "n_train": n_train,
        "epochs": epochs,
        "seed": 0,
        "target": 20,
        "meets_target": u_s / c_s >= 20,
        "data": f"Devign subset of {ctx.sizes.subset_functions} functions (seeded sample), "
        "featurized by the stages; branches trained 1 epoch by train_<track>.py",
        "branch_train_s": {t: ctx.done.get("subset_train_s", {}).get(f"{t}@0") for t in TRACKS},
    }


def headline(r: dict[str, Any]) -> str:
    return (
        f"cached {dig(r, 'cached_s')} s vs uncached {dig(r, 'uncached_s')} s → "
        f"{dig(r, 'cached_speedup')}×, identical={dig(r, 'metrics_identical')}"
    )
