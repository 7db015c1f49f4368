"""Stage `featurize`: prepared splits → code graphs + token ids in data/features/.

Throughput goes to a separate metrics file (--timings, default reports/featurize_timing.json):
it changes on every run, so it is not in data/features, which every later stage depends on.

Params: params.yaml, then its whole-run preset (`preset:` → presets.<name>) and fusion preset,
then `--set KEY=VALUE` (repeatable; `--set preset=devign` switches the whole-run preset), then
this stage's own flags: later wins. Defaults shown are params.yaml's with its presets applied.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from vulnfusion.cli import base_parser, load, run_stage
from vulnfusion.featurize import featurize
from vulnfusion.io import ensure_writable_dir, write_json

log = logging.getLogger("vulnfusion.featurize")


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__ or "")
    p.add_argument("--prepared-dir", default="data/prepared", help="the prepare stage's output")
    p.add_argument("--output-dir", default="data/features", help="default: data/features")
    p.add_argument(
        "--timings",
        type=Path,
        default=Path("reports/featurize_timing.json"),
        help="throughput metrics (not a dependency of later stages); "
        "default: reports/featurize_timing.json",
    )
    args = p.parse_args(argv)
    cfg = load(args)
    ensure_writable_dir(Path(args.output_dir).parent)
    stats = featurize(cfg, args.prepared_dir, args.output_dir)
    write_json(args.timings, stats["timing"])
    t = stats["splits"]["train"]
    log.info(
        "featurized: %.0f functions/s (graphs), train parse errors %.1f%%, mean nodes %.0f",
        stats["timing"]["graph_functions_per_s"],
        100 * t["parse_error_rate"],
        t["mean_nodes"],
    )


if __name__ == "__main__":
    run_stage(main)
