"""Benchmark worker: time the shared training loop on a fixed number of Devign-sized batches.

Run by the ``train`` section (``bench.train``) as a subprocess, so that its peak RSS is
measured on its own; from ``benchmarks/``:

    python -m bench.train_worker --params P --features-dir F --track gnn --batches 32 \\
        --output result.json

It loads the featurized splits (``vulnfusion.features.load_features``), slices a seeded random
subset of ``batches × batch_size`` training rows out of the flat arrays (``SplitFeatures``),
builds the track's model exactly as the stage does (``build_branch``) and runs one epoch of
``vulnfusion.training.Trainer.fit`` on it (validation on 32 rows, negligible), ``--repeats``
times with a fresh model each time; examples/s is the median. Nothing here
reimplements training: the subset only bounds the run time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from vulnfusion.features import SplitFeatures

# pointer array → the flat arrays it indexes (see vulnfusion.featurize)
POINTERS = {
    "tok_ptr": ("tok_ids",),
    "node_ptr": ("node_type", "node_token"),
    "edge_ptr": ("edge_src", "edge_dst", "edge_type"),
}
VALID_ROWS = 32


def _flat_index(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in the flat array of ``rows``' segments, and the new pointer array."""
    starts, ends = ptr[rows], ptr[rows + 1]
    lens = ends - starts
    new_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    new_ptr[1:] = np.cumsum(lens)
    index = np.repeat(starts - new_ptr[:-1], lens) + np.arange(new_ptr[-1])
    return index, new_ptr


def subset_split(feats: SplitFeatures, rows: np.ndarray) -> SplitFeatures:
    """The same split restricted to ``rows`` (node and edge indices stay graph-local)."""
    rows = np.asarray(rows, dtype=np.int64)
    a = feats.arrays
    out: dict[str, np.ndarray] = {}
    for ptr_name, flat_names in POINTERS.items():
        index, out[ptr_name] = _flat_index(a[ptr_name], rows)
        for name in flat_names:
            out[name] = a[name][index]
    covered = {"labels", *POINTERS, *(n for names in POINTERS.values() for n in names)}
    unknown = sorted(set(a) - covered)
    if unknown:
        raise ValueError(f"cannot subset unknown feature arrays {unknown}")
    out["labels"] = a["labels"][rows]
    return SplitFeatures([feats.ids[i] for i in rows], out)


def run(
    params: str, features_dir: str, track: str, batches: int, seed: int, repeats: int
) -> dict[str, Any]:
    from vulnfusion.batching import BatchLayout
    from vulnfusion.config import load_config
    from vulnfusion.features import load_features
    from vulnfusion.runs.branch import build_branch
    from vulnfusion.runs.scoring import train_config
    from vulnfusion.training import Trainer, seed_everything

    cfg = load_config(params, {f"{track}.train.epochs": 1})
    tcfg = train_config(cfg, track)
    feats = load_features(features_dir)
    train_all = feats.splits["train"]
    n = min(batches * tcfg.batch_size, len(train_all))
    rows = np.sort(np.random.default_rng(seed).choice(len(train_all), n, replace=False))
    train = subset_split(train_all, rows)
    valid_all = feats.splits["valid"]
    valid = subset_split(valid_all, np.arange(min(VALID_ROWS, len(valid_all))))
    walls, history = [], []
    for _ in range(repeats):  # a fresh model and Trainer each time, same seed
        seed_everything(seed)
        model, arch = build_branch(cfg, track, feats)
        trainer = Trainer(
            model, BatchLayout.for_track(track, arch.get("pad_id", 1)), tcfg, seed, train, valid
        )
        start = time.perf_counter()
        fit = trainer.fit()
        walls.append(time.perf_counter() - start)
        history.append(fit.history[0]["train/examples_per_s"])
    wall = statistics.median(walls)
    return {
        "examples": n,
        "batches": -(-n // tcfg.batch_size),
        "batch_size": tcfg.batch_size,
        "repeats": repeats,
        "fit_s": round(wall, 3),
        "examples_per_s": round(n / wall, 2),
        "runs_examples_per_s": [round(n / w, 2) for w in walls],
        "history_examples_per_s": round(statistics.median(history), 2),
        "mean_tokens": round(float(np.diff(train.arrays["tok_ptr"]).mean()), 1),
        "mean_nodes": round(float(np.diff(train.arrays["node_ptr"]).mean()), 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--params", required=True)
    p.add_argument("--features-dir", required=True)
    p.add_argument("--track", required=True, choices=["transformer", "gnn"])
    p.add_argument("--batches", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="median over this many fits")
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args()
    result = run(args.params, args.features_dir, args.track, args.batches, args.seed, args.repeats)
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
