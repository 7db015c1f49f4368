"""Benchmark worker: one ablation variant — featurize a Devign workspace's prepared splits
with params overrides, train one seed of one track, write the scores.

Run by the ``ablation`` section (``bench.ablation``) as a subprocess; from ``benchmarks/``:

    python -m bench.ablation_worker --workspace W --out O --track transformer \\
        --set transformer.windows.max_windows=3 ...

Writes ``O/features`` (the stage's own ``featurize``), ``O/seed_0`` (``train_branch``: the
stage's training, checkpoint, metrics and ``logits.json``) and ``O/timing.json``
(``featurize_s``, ``train_s``: wall seconds). Nothing is reimplemented: these are the
functions the DVC stages call, with the workspace's ``params.yaml`` and the overrides.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vulnfusion.config import load_config
from vulnfusion.featurize import featurize
from vulnfusion.io import write_json
from vulnfusion.runs.branch import train_branch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--track", choices=("transformer", "gnn"), required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cfg = load_config(args.workspace / "params.yaml", args.overrides)
    features = args.out / "features"
    start = time.perf_counter()
    featurize(cfg, args.workspace / "data/prepared", features)
    featurized = time.perf_counter()
    seed_dir = args.out / f"seed_{args.seed}"
    train_branch(cfg, args.track, args.seed, features, seed_dir, "ablation")
    done = time.perf_counter()
    write_json(
        args.out / "timing.json",
        {"featurize_s": round(featurized - start, 1), "train_s": round(done - featurized, 1)},
    )


if __name__ == "__main__":
    main()
