"""Stage `compare`: ensembles of every track → reports/comparison.{md,json}, per-track
histories and plots, and the headline metrics.json that `dvc exp show` leads with.

Params: params.yaml, then its whole-run preset (`preset:` → presets.<name>) and fusion preset,
then `--set KEY=VALUE` (repeatable; `--set preset=devign` switches the whole-run preset), then
this stage's own flags: later wins. Defaults shown are params.yaml's with its presets applied.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from vulnfusion.cli import base_parser, run_stage
from vulnfusion.report import write_comparison

log = logging.getLogger("vulnfusion.compare")


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__ or "")
    p.add_argument("--outputs-dir", type=Path, default=Path("outputs"))
    p.add_argument("--reports-dir", type=Path, default=Path("reports"))
    p.add_argument(
        "--summary",
        type=Path,
        default=Path("metrics.json"),
        help="the compact headline metrics file (default: metrics.json)",
    )
    args = p.parse_args(argv)
    c = write_comparison(args.outputs_dir, args.reports_dir, args.summary)
    for name, t in c["targets"].items():
        log.info("target %s: %+.4f → %s", name, t["measured"], "PASS" if t["pass"] else "FAIL")


if __name__ == "__main__":
    run_stage(main)
