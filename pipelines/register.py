"""Stage `register`: the fusion ensemble → MLflow model registry (vulnfusion-ensemble@alias).

Params: params.yaml, then its whole-run preset (`preset:` → presets.<name>) and fusion preset,
then `--set KEY=VALUE` (repeatable; `--set preset=devign` switches the whole-run preset), then
this stage's own flags: later wins. Defaults shown are params.yaml's with its presets applied.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from vulnfusion import lineage
from vulnfusion.cli import base_parser, load, run_stage
from vulnfusion.registry import register_ensemble

log = logging.getLogger("vulnfusion.register")


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__ or "")
    p.add_argument(
        "--fusion-dir", type=Path, default=Path("outputs/fusion"), help="the fusion seeds"
    )
    p.add_argument(
        "--features-dir", type=Path, default=Path("data/features"), help="tokenizer and vocab"
    )
    p.add_argument(
        "--comparison",
        type=Path,
        default=Path("reports/comparison.json"),
        help="the compare stage's verdict (decides the alias)",
    )
    p.add_argument(
        "--output",
        type=Path,
        default=Path("reports/registered_model.json"),
        help="where the name, version and alias are written",
    )
    args = p.parse_args(argv)
    cfg = load(args)
    lineage.use_features_dir(args.features_dir)  # inputs of a run made here (no aggregate run)
    r = register_ensemble(
        cfg, args.fusion_dir, args.features_dir, args.comparison, args.output, stage="register"
    )
    log.info(
        "registered %s version %s as @%s — serve it with: mlflow models serve -m %s "
        "--env-manager local",
        r["name"],
        r["version"],
        r["alias"],
        r["registry_uri"],
    )


if __name__ == "__main__":
    run_stage(main)
