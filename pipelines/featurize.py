"""Stage `featurize`: prepared splits → code graphs + token ids in data/features/."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from vulnfusion.cli import base_parser, load, run_stage
from vulnfusion.featurize import featurize
from vulnfusion.io import ensure_writable_dir

log = logging.getLogger("vulnfusion.featurize")


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__ or "")
    p.add_argument("--prepared-dir", default="data/prepared")
    p.add_argument("--output-dir", default="data/features")
    args = p.parse_args(argv)
    cfg = load(args)
    ensure_writable_dir(Path(args.output_dir).parent)
    stats = featurize(cfg, args.prepared_dir, args.output_dir)
    t = stats["splits"]["train"]
    log.info(
        "featurized: %.0f functions/s (graphs), train parse errors %.1f%%, mean nodes %.0f",
        stats["timing"]["graph_functions_per_s"],
        100 * t["parse_error_rate"],
        t["mean_nodes"],
    )


if __name__ == "__main__":
    run_stage(main)
