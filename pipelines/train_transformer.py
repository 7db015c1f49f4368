"""Stage `train_transformer@<seed>`: one transformer run → outputs/transformer/seed_<k>/.

Every training-loop flag (`--epochs`, `--amp-dtype`, `--ema`, …) overrides transformer.train.* in
params.yaml; `python pipelines/train_transformer.py --help` lists them.
"""

from __future__ import annotations

from collections.abc import Sequence

from vulnfusion.cli import run_stage
from vulnfusion.cli.train import branch_stage_main


def main(argv: Sequence[str] | None = None) -> None:
    branch_stage_main("transformer", __doc__ or "", argv)


if __name__ == "__main__":
    run_stage(main)
