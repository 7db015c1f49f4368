"""Stage `train_gnn@<seed>`: one gnn branch run, written to outputs/gnn/seed_<k>/.

Every training-loop flag (`--epochs`, `--amp-dtype`, `--ema`, …) overrides gnn.train.* in
params.yaml; `python pipelines/train_gnn.py --help` lists them.
"""

from __future__ import annotations

from collections.abc import Sequence

from vulnfusion.cli import run_stage
from vulnfusion.cli.train import branch_stage_main


def main(argv: Sequence[str] | None = None) -> None:
    branch_stage_main("gnn", __doc__ or "", argv)


if __name__ == "__main__":
    run_stage(main)
