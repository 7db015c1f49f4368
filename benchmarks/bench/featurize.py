"""Section ``featurize``: ``prepare`` then the ``featurize`` stage alone on all of Devign
(default params, 2 workers), median of ``featurize_repeats`` runs.

  featurize.functions_per_s      functions featurized / stage wall seconds
  featurize.wall_s               stage wall seconds (median)
  featurize.peak_rss_mb          max over the run of the summed RSS of the stage process and its
                                 children, sampled with psutil every 0.2 s (fork workers share
                                 pages, so the sum is an upper bound)
  featurize.peak_rss_mb_largest_process   getrusage(RUSAGE_CHILDREN).ru_maxrss (cross-check)
  featurize.parse_error_rate, featurize.mean_nodes, featurize.mean_edges.{ast,next_token,cfg,dfg}
                                 from the features' stats.json, weighted over all splits
  featurize.graph_functions_per_s_reported   stats.json's rate; since graphs are built while
                                 the main process trains the tokenizer and encodes, it covers
                                 graphs and token ids together (no longer graphs alone)
  featurize.cpu_s                user+sys of the stage's process tree (median): steadier than
                                 the wall figures when other jobs share the machine
  featurize.target_functions_per_s (1000), featurize.target_peak_rss_mb (4096),
  featurize.meets_target.{functions_per_s,peak_rss_mb}
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench.context import DEVIGN, Ctx, dig
from bench.inputs import featurize_devign, subset_features, subset_params, timings_path
from bench.processes import stage


def _weighted(splits: dict[str, dict[str, Any]], get: Callable[[dict[str, Any]], float]) -> float:
    total = sum(int(s["functions"]) for s in splits.values())
    weighted = sum(get(s) * int(s["functions"]) for s in splits.values())
    return round(weighted / max(total, 1), 4)


def _edge(kind: str, split: dict[str, Any]) -> float:
    return float(split["mean_edges"][kind])


def feature_stats(features: Path) -> dict[str, Any]:
    """Parse errors and graph sizes from stats.json, weighted over all splits; the stage's
    own graph rate from its ``--timings`` file."""
    stats = json.loads((features / "stats.json").read_text())
    timing = json.loads(timings_path(features).read_text())
    splits = stats["splits"]
    edge_types = list(splits["train"]["mean_edges"])
    return {
        "functions": sum(s["functions"] for s in splits.values()),
        "parse_error_rate": _weighted(splits, lambda s: s["parse_error_rate"]),
        "mean_nodes": round(_weighted(splits, lambda s: s["mean_nodes"]), 2),
        "mean_edges": {t: round(_weighted(splits, partial(_edge, t)), 2) for t in edge_types},
        "mean_tokens": round(_weighted(splits, lambda s: s["mean_tokens"]), 1),
        "graph_functions_per_s": timing["graph_functions_per_s"],
    }


def run(ctx: Ctx) -> dict[str, Any]:
    sizes = ctx.sizes
    if sizes.featurize_full:
        runs = [featurize_devign(ctx) for _ in range(sizes.featurize_repeats)]
        data = f"all of Devign ({DEVIGN.name})"
    else:
        params, root = subset_params(ctx), ctx.tmp / "subset"
        subset_features(ctx)
        out = root / "features_bench"
        m = stage(
            ctx,
            "featurize.py",
            params,
            "--prepared-dir",
            root / "prepared",
            "--output-dir",
            out,
            "--timings",
            timings_path(out),
            tag="featurize-subset-bench",
        )
        runs = [(out, m)]
        data = f"Devign subset of {sizes.subset_functions} functions (--quick)"
    features = runs[-1][0]
    st = feature_stats(features)
    wall = statistics.median(m.wall_s for _, m in runs)
    peak = max(m.peak_rss_mb for _, m in runs)
    fps = st["functions"] / wall
    return {
        "functions_per_s": round(fps, 1),
        "wall_s": round(wall, 2),
        "peak_rss_mb": peak,
        "peak_rss_mb_largest_process": max(m.maxrss_mb for _, m in runs),
        "cpu_s": statistics.median(m.cpu_s for _, m in runs),
        "runs_wall_s": [m.wall_s for _, m in runs],
        "functions": st["functions"],
        "parse_error_rate": st["parse_error_rate"],
        "mean_nodes": st["mean_nodes"],
        "mean_edges": st["mean_edges"],
        "mean_tokens": st["mean_tokens"],
        "graph_functions_per_s_reported": st["graph_functions_per_s"],
        "target_functions_per_s": 1000,
        "target_peak_rss_mb": 4096,
        "meets_target": {"functions_per_s": fps >= 1000, "peak_rss_mb": peak <= 4096},
        "data": data,
        "num_workers": 2,
    }


def headline(r: dict[str, Any]) -> str:
    return (
        f"{dig(r, 'functions_per_s')} fn/s, peak {dig(r, 'peak_rss_mb')} MB, "
        f"parse errors {dig(r, 'parse_error_rate')}"
    )
