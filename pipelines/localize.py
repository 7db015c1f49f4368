"""Stage `localize`: the fusion ensemble's line-level localisation on the test split
(LineVul's Top-10 accuracy and IFA, beside a random and a keyword floor) →
reports/localization.json, shown in reports/comparison.md."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from vulnfusion.cli import base_parser, load, run_stage
from vulnfusion.localization.stage import localize_ensemble

log = logging.getLogger("vulnfusion.localize")


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__ or "")
    p.add_argument("--fusion-dir", type=Path, default=Path("outputs/fusion"))
    p.add_argument("--features-dir", type=Path, default=Path("data/features"))
    p.add_argument("--test", type=Path, default=Path("data/prepared/test.jsonl"))
    p.add_argument("--output", type=Path, default=Path("reports/localization.json"))
    args = p.parse_args(argv)
    cfg = load(args)
    r = localize_ensemble(cfg, args.fusion_dir, args.features_dir, args.test, args.output)
    for name, m in r["methods"].items():
        log.info(
            "%s on %d flawed functions: top-10 %.3f, IFA mean %.2f median %.1f (%.0f ms/function)",
            name,
            r["functions"],
            m["top10_accuracy"],
            m["ifa_mean"],
            m["ifa_median"],
            m["ms_per_function"],
        )


if __name__ == "__main__":
    run_stage(main)
