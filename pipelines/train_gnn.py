"""Stage `train_gnn@<seed>`: train the gnn branch for one seed → outputs/gnn/seed_<k>/."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from vulnfusion.branches import train_branch
from vulnfusion.cli import add_train_flags, base_parser, load, run_stage, train_overrides
from vulnfusion.io import ensure_writable_dir

log = logging.getLogger("vulnfusion.train_gnn")


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__ or "")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--features-dir", default="data/features")
    p.add_argument("--output-dir", required=True, help="e.g. outputs/gnn/seed_0")
    add_train_flags(p)
    args = p.parse_args(argv)
    cfg = load(args, train_overrides(args, "gnn"))
    ensure_writable_dir(args.output_dir)
    m = train_branch(
        cfg, "gnn", args.seed, args.features_dir, args.output_dir, stage=f"train_gnn@{args.seed}"
    )
    if m:
        log.info(
            "gnn seed %d: valid F1 %.4f @%.2f, test F1 %.4f, test ROC-AUC %s",
            args.seed,
            m["f1_at_best_threshold"],
            m["best_threshold_by_f1"],
            m["test"]["at_valid_threshold"]["f1"],
            m["test"]["roc_auc"],
        )


if __name__ == "__main__":
    run_stage(main)
