"""Stage `aggregate@<track>`: average the seeds' logits → outputs/<track>/ensemble_metrics.json.

Params: params.yaml, then its whole-run preset (`preset:` → presets.<name>) and fusion preset,
then `--set KEY=VALUE` (repeatable; `--set preset=devign` switches the whole-run preset), then
this stage's own flags: later wins. Defaults shown are params.yaml's with its presets applied.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from vulnfusion import lineage
from vulnfusion.cli import base_parser, load, run_stage
from vulnfusion.ensemble import aggregate_track
from vulnfusion.metrics import Headline

log = logging.getLogger("vulnfusion.aggregate")


def _flag(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__ or "")
    p.add_argument(
        "--track", required=True, choices=["transformer", "gnn", "fusion"], help="which track"
    )
    p.add_argument("--input-dir", default=None, help="default: outputs/<track>")
    p.add_argument("--output", default=None, help="default: <input-dir>/ensemble_metrics.json")
    p.add_argument("--features-dir", default="data/features", help="the featurize stage's output")
    p.add_argument(
        "--recompute",
        nargs="?",
        const="true",
        default="false",
        type=_flag,
        help="recompute logits from the seed checkpoints instead of reading dumps "
        "(--recompute, or --recompute true|false)",
    )
    args = p.parse_args(argv)
    cfg = load(args)
    input_dir = args.input_dir or f"outputs/{args.track}"
    output = args.output or f"{input_dir}/ensemble_metrics.json"
    lineage.use_features_dir(args.features_dir)  # the run's dataset inputs
    m = aggregate_track(
        cfg,
        args.track,
        input_dir,
        output,
        args.features_dir,
        args.recompute,
        stage=f"aggregate@{args.track}",
    )
    d = m["ensemble_minus_best_seed_test_f1"]
    log.info(
        "%s ensemble of %d seeds: test F1 %.4f (seeds %.4f ± %.4f), vs best seed %+.4f "
        "[%+.4f, %+.4f]",
        args.track,
        m["num_seeds"],
        Headline.from_report(m).test_f1,
        m["per_seed_mean_f1"],
        m["per_seed_std_f1"],
        d["diff"],
        d["low"],
        d["high"],
    )


if __name__ == "__main__":
    run_stage(main)
