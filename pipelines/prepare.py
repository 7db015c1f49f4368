"""Stage `prepare`: raw data → data/prepared/{train,valid,test}.jsonl + stats.json.

Params: params.yaml, then its whole-run preset (`preset:` → presets.<name>) and fusion preset,
then `--set KEY=VALUE` (repeatable; `--set preset=devign` switches the whole-run preset), then
this stage's own flags: later wins. Defaults shown are params.yaml's with its presets applied.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from vulnfusion.cli import base_parser, load, run_stage
from vulnfusion.data.prepare import prepare

log = logging.getLogger("vulnfusion.prepare")


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__ or "")
    p.add_argument("--output-dir", default="data/prepared")
    args = p.parse_args(argv)
    cfg = load(args)
    stats = prepare(cfg, args.output_dir)
    sizes = ", ".join(f"{k}={v['count']}" for k, v in stats["splits"].items())
    log.info(
        "prepared %s (%s); rejected %d, duplicates dropped %d (+%d with conflicting labels)",
        cfg.data.source,
        sizes,
        stats["records_rejected"]["total"],
        stats["duplicates_dropped"],
        stats["conflicting_duplicates_dropped"],
    )


if __name__ == "__main__":
    run_stage(main)
