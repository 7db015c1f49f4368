"""Stage `train_transformer@<seed>`: one transformer run → outputs/transformer/seed_<k>/.

Every training-loop flag (`--epochs`, `--amp-dtype`, `--ema`, …) overrides transformer.train.* in
params.yaml; `python pipelines/train_transformer.py --help` lists them.

Params: params.yaml, then its whole-run preset (`preset:` → presets.<name>) and fusion preset,
then `--set KEY=VALUE` (repeatable; `--set preset=devign` switches the whole-run preset), then
this stage's own flags: later wins. Defaults shown are params.yaml's with its presets applied.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from vulnfusion import lineage
from vulnfusion.cli import run_stage
from vulnfusion.cli.train import branch_stage_main


def main(argv: Sequence[str] | None = None) -> None:
    # the run logs the prepared splits behind --features-dir as its dataset inputs
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--features-dir", default="data/features")
    lineage.use_features_dir(pre.parse_known_args(argv)[0].features_dir)
    branch_stage_main("transformer", __doc__ or "", argv)


if __name__ == "__main__":
    run_stage(main)
