"""Section ``train``: the shared training loop per branch.

train.{transformer,gnn}.examples_per_s.demo     the real stage (train_<track>.py) on the demo
    corpus as shipped, ``demo_epochs`` epoch(s); the last epoch's ``train_examples_per_s``
    from history.csv (note: the project's figure includes the epoch's validation pass)
train.{transformer,gnn}.examples_per_s.devign   ``Trainer.fit`` for one epoch on a seeded
    subset of ``devign_batches`` batches of the Devign train split, median of
    ``devign_repeats`` fits (``bench.train_worker``, a subprocess so that its peak RSS is its
    own; a full Devign epoch takes 5-20 min per branch on 2 cores)
train.{transformer,gnn}.peak_rss_mb             peak RSS of the Devign-sized run (process tree)
train.{transformer,gnn}.peak_rss_mb_demo        peak RSS of the demo stage run
train.padding_overhead.{bucketed,fixed_length,unbucketed,target (1.15),meets_target}
    padded / real tokens over one epoch of the Devign train split's token lengths:
    BucketBatchSampler(bucket=True, batch 32) padded to a multiple of 8, vs padding every
    row to max_length, vs unbucketed random batches
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.context import BENCH_DIR, ROOT, TRACKS, Ctx, dig
from bench.inputs import demo_features, devign_features, devign_params, read_history
from bench.processes import run_measured, stage


def train_demo(ctx: Ctx, track: str) -> dict[str, Any]:
    params, features = demo_features(ctx)
    out = ctx.tmp / "demo" / "outputs" / track / "seed_0"
    m = stage(
        ctx,
        f"train_{track}.py",
        params,
        "--seed",
        "0",
        "--features-dir",
        features,
        "--output-dir",
        out,
        "--epochs",
        str(ctx.sizes.demo_epochs),
        "--patience",
        "0",
        tag=f"train-{track}-demo",
    )
    per_epoch = [row["train_examples_per_s"] for row in read_history(out / "history.csv")]
    return {
        "examples_per_s": round(per_epoch[-1], 2),
        "epochs_examples_per_s": [round(x, 2) for x in per_epoch],
        "stage_wall_s": m.wall_s,
        "peak_rss_mb": m.peak_rss_mb,
    }


def train_devign(ctx: Ctx, track: str) -> dict[str, Any]:
    features = devign_features(ctx)
    result = ctx.tmp / f"train_worker_{track}.json"
    cmd = [
        sys.executable,
        "-m",
        "bench.train_worker",
        "--params",
        str(devign_params(ctx)),
        "--features-dir",
        str(features),
        "--track",
        track,
        "--batches",
        str(ctx.sizes.devign_batches),
        "--repeats",
        str(ctx.sizes.devign_repeats),
        "--output",
        str(result),
    ]
    # the worker runs from the temp dir: put this package's parent on its path
    path = os.pathsep.join(p for p in (str(BENCH_DIR.parent), ctx.env.get("PYTHONPATH")) if p)
    m = run_measured(ctx, cmd, f"train-{track}-devign", env={**ctx.env, "PYTHONPATH": path})
    return {
        **json.loads(result.read_text()),
        "peak_rss_mb": m.peak_rss_mb,
        "process_wall_s": m.wall_s,
    }


def padding_overheads(features: Path, batch_size: int = 32, multiple: int = 8) -> dict[str, Any]:
    """Padded / real tokens over one epoch of the train split's token lengths."""
    import numpy as np

    from vulnfusion.batching import BucketBatchSampler, FeatureDataset, padding_overhead
    from vulnfusion.config import load_config
    from vulnfusion.features import load_split

    max_length = load_config(ROOT / "params.yaml").transformer.max_length
    lengths = FeatureDataset(load_split(features / "train.safetensors")).lengths("tokens")

    def batches(bucket: bool) -> list[list[int]]:
        return list(BucketBatchSampler(lengths, batch_size, shuffle=True, seed=0, bucket=bucket))

    bucketed = padding_overhead(lengths, batches(True), multiple)
    # multiple = max_length: every batch is padded to exactly max_length (lengths ≤ max_length)
    fixed = padding_overhead(lengths, batches(False), max_length)
    return {
        "bucketed": round(bucketed, 4),
        "fixed_length": round(fixed, 4),
        "unbucketed": round(padding_overhead(lengths, batches(False), multiple), 4),
        "target": 1.15,
        "meets_target": bucketed <= 1.15,
        "batch_size": batch_size,
        "pad_to_multiple_of": multiple,
        "max_length": max_length,
        "examples": len(lengths),
        "longest": int(np.max(lengths)),
    }


def run(ctx: Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for track in TRACKS:
        demo, devign = train_demo(ctx, track), train_devign(ctx, track)
        out[track] = {
            "examples_per_s": {"demo": demo["examples_per_s"], "devign": devign["examples_per_s"]},
            "peak_rss_mb": devign["peak_rss_mb"],
            "peak_rss_mb_demo": demo["peak_rss_mb"],
            "detail": {"demo": demo, "devign": devign},
        }
    out["padding_overhead"] = padding_overheads(devign_features(ctx))
    return out


def headline(r: dict[str, Any]) -> str:
    return (
        f"transformer {dig(r, 'transformer', 'examples_per_s')} ex/s, "
        f"gnn {dig(r, 'gnn', 'examples_per_s')} ex/s, "
        f"padding {dig(r, 'padding_overhead', 'bucketed')} vs "
        f"{dig(r, 'padding_overhead', 'fixed_length')}"
    )
