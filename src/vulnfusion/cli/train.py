"""Entry point shared by ``pipelines/train_transformer.py`` and ``pipelines/train_gnn.py``."""

from __future__ import annotations

from collections.abc import Sequence

from vulnfusion.cli import (
    add_train_flags,
    base_parser,
    load,
    params_defaults,
    train_overrides,
)
from vulnfusion.io import ensure_writable_dir
from vulnfusion.runs.branch import train_branch
from vulnfusion.runs.outputs import log_summary


def branch_stage_main(track: str, doc: str, argv: Sequence[str] | None = None) -> None:
    """``pipelines/train_{transformer,gnn}.py``: one branch, one seed, flags from TrainConfig."""
    p = base_parser(doc)
    seeds = list(params_defaults().seeds)
    p.add_argument(
        "--seed", type=int, required=True, help=f"the seed to train (params.yaml seeds: {seeds})"
    )
    p.add_argument("--features-dir", default="data/features", help="the featurize stage's output")
    p.add_argument("--output-dir", required=True, help=f"e.g. outputs/{track}/seed_0")
    add_train_flags(p, track)
    args = p.parse_args(argv)
    cfg = load(args, train_overrides(args, track))
    ensure_writable_dir(args.output_dir)
    m = train_branch(
        cfg,
        track,
        args.seed,
        args.features_dir,
        args.output_dir,
        stage=f"train_{track}@{args.seed}",
    )
    log_summary(track, args.seed, m)
