"""Stage `train_fusion@<seed>`: the late-fusion head over both branches → outputs/fusion/seed_<k>/.

Every flag is optional; with none, behaviour is the params.yaml default. Example:

  python pipelines/train_fusion.py --transformer-checkpoint outputs/transformer/seed_0 \\
      --gnn-checkpoint outputs/gnn/seed_0 --model-name scratch --epochs 6 --batch-size 16 \\
      --scheduler cosine --amp-dtype bf16 --grad-clip-norm 1.0 --pad-to-multiple-of 8

Params: params.yaml, then its whole-run preset (`preset:` → presets.<name>) and fusion preset,
then `--set KEY=VALUE` (repeatable; `--set preset=devign` switches the whole-run preset), then
this stage's own flags: later wins. Defaults shown are params.yaml's with its presets applied.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from vulnfusion import lineage
from vulnfusion.cli import (
    add_train_flags,
    base_parser,
    load,
    params_defaults,
    run_stage,
    train_overrides,
)
from vulnfusion.io import ensure_writable_dir
from vulnfusion.paths import seed_dir
from vulnfusion.runs.fusion import default_branch_dir, train_fusion
from vulnfusion.runs.outputs import log_summary


def parser() -> argparse.ArgumentParser:
    p = base_parser(__doc__ or "")
    cfg = params_defaults()
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"default: {cfg.seeds[0]} (the first of params.yaml seeds {list(cfg.seeds)})",
    )
    p.add_argument(
        "--preset",
        default=None,
        help=f"fusion preset; default: {cfg.fusion.preset} (fusion.preset in params.yaml)",
    )
    p.add_argument(
        "--transformer-checkpoint",
        type=Path,
        default=None,
        help="a transformer seed dir or its model.safetensors (default: by fusion.branch_seed)",
    )
    p.add_argument("--gnn-checkpoint", type=Path, default=None, help="likewise for the GNN")
    p.add_argument(
        "--model-name",
        default=None,
        help="codebert | graphcodebert | unixcoder | scratch | a local dir; "
        f"must match the transformer checkpoint; default: {cfg.transformer.model_name} "
        "(transformer.model_name in params.yaml)",
    )
    p.add_argument(
        "--freeze-transformer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"keep the transformer branch frozen; default: {cfg.fusion.freeze_transformer} "
        "(fusion.freeze_transformer in params.yaml)",
    )
    p.add_argument(
        "--freeze-gnn",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"keep the GNN branch frozen; default: {cfg.fusion.freeze_gnn} "
        "(fusion.freeze_gnn in params.yaml)",
    )
    p.add_argument("--features-dir", default="data/features", help="the featurize stage's output")
    p.add_argument(
        "--outputs-root",
        type=Path,
        default=Path("outputs"),
        help="where default branch checkpoints are looked up",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("data/cache/fusion"),
        help="frozen-branch feature cache",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="recompute frozen branch features every epoch (slow; for checks)",
    )
    p.add_argument("--output-dir", default=None, help="default: outputs/fusion/seed_<seed>")
    add_train_flags(p, "fusion")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    extra = {
        "fusion.preset": args.preset,
        "transformer.model_name": args.model_name,
        "fusion.freeze_transformer": args.freeze_transformer,
        "fusion.freeze_gnn": args.freeze_gnn,
        **train_overrides(args, "fusion"),
    }
    cfg = load(args, extra)
    seed = cfg.seeds[0] if args.seed is None else args.seed
    out = args.output_dir or str(seed_dir(Path("outputs"), "fusion", seed))
    ensure_writable_dir(out)
    lineage.use_features_dir(args.features_dir)  # the run's dataset inputs
    t = args.transformer_checkpoint or default_branch_dir(
        cfg, args.outputs_root, "transformer", seed
    )
    g = args.gnn_checkpoint or default_branch_dir(cfg, args.outputs_root, "gnn", seed)
    m = train_fusion(
        cfg,
        seed,
        args.features_dir,
        out,
        t,
        g,
        None if args.no_cache else args.cache_dir,
        stage=f"train_fusion@{seed}",
    )
    log_summary("fusion", seed, m)


if __name__ == "__main__":
    run_stage(main)
