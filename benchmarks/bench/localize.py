"""Section ``localize``: line-level localisation of a demo-trained fusion model on the demo
test split (the demo generator records every flawed sample's ``flaw_lines``), beside the
random and keyword floors, and its cost per function.

A demo fusion model is trained in-process on the shipped demo corpus (``demo_features``:
the repo's params, prepare + featurize as shipped; one seed, epochs cut to
``EPOCHS`` per track so the section stays within minutes), then
``vulnfusion.localization.stage.localize_ensemble`` measures it exactly as the ``localize``
stage does (the served bundle, ``serving.EnsembleScorer``).

  localize.functions (flawed test functions), localize.k (10),
  localize.methods.<method>.{top10_accuracy,top1_accuracy,top5_accuracy,ifa_mean,
  ifa_median,ms_per_function} for every method of ``attribution.METHODS`` (occlusion,
  occlusion_signed, gradient_x_input, integrated_gradients),
  localize.floors.random.{top10_accuracy,ifa_mean,ifa_median},
  localize.floors.keyword.{top10_accuracy,top1_accuracy,top5_accuracy,ifa_mean,ifa_median},
  localize.train_s, localize.epochs,
  localize.meets_target (the chosen method beats the random floor on Top-10 and mean IFA)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from bench.context import Ctx, dig
from bench.inputs import demo_features, project_env

EPOCHS = {"transformer": 3, "gnn": 4, "fusion": 3}
SEED = 0


def train_demo(ctx: Ctx, params: Path, features: Path) -> tuple[Any, Path]:
    """One demo seed of each track + the fusion ensemble's aggregate; (config, fusion dir)."""
    from vulnfusion.config import load_config
    from vulnfusion.ensemble import aggregate_track
    from vulnfusion.runs.branch import train_branch
    from vulnfusion.runs.fusion import train_fusion

    raw = yaml.safe_load(params.read_text())
    raw["seeds"] = [SEED]
    for track, n in EPOCHS.items():
        raw[track]["train"]["epochs"] = n
    small = ctx.tmp / "demo" / "params_localize.yaml"
    small.write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = load_config(small)
    out = ctx.tmp / "demo" / "outputs"
    for track in ("transformer", "gnn"):
        train_branch(cfg, track, SEED, features, out / track / f"seed_{SEED}", "bench")
    train_fusion(
        cfg,
        SEED,
        features,
        out / "fusion" / f"seed_{SEED}",
        out / "transformer" / f"seed_{SEED}",
        out / "gnn" / f"seed_{SEED}",
        ctx.tmp / "demo" / "cache",
        "bench",
    )
    metrics = out / "fusion" / "ensemble_metrics.json"
    aggregate_track(cfg, "fusion", out / "fusion", metrics, features, False, "bench")
    return cfg, out / "fusion"


def run(ctx: Ctx) -> dict[str, Any]:
    from vulnfusion.localization.attribution import METHODS
    from vulnfusion.localization.stage import localize_ensemble

    params, features = demo_features(ctx)
    with project_env(ctx):
        start = time.perf_counter()
        cfg, fusion_dir = train_demo(ctx, params, features)
        train_s = time.perf_counter() - start
        r = localize_ensemble(
            cfg,
            fusion_dir,
            features,
            features.parent / "prepared" / "test.jsonl",
            ctx.tmp / "demo" / "localization.json",
            METHODS,
        )
    chosen, rand = r["methods"][r["chosen"]], r["floors"]["random"]
    r["train_s"] = round(train_s, 1)
    r["epochs"] = dict(EPOCHS)
    r["meets_target"] = (
        chosen["top10_accuracy"] > rand["top10_accuracy"] and chosen["ifa_mean"] < rand["ifa_mean"]
    )
    return r


def headline(r: dict[str, Any]) -> str:
    m = dig(r, "chosen")
    got = dig(r, "methods", m) or {}
    rand, kw = dig(r, "floors", "random"), dig(r, "floors", "keyword")
    return (
        f"{m}: top-10 {dig(got, 'top10_accuracy')}, IFA {dig(got, 'ifa_mean')} "
        f"(random {dig(rand, 'top10_accuracy')}, {dig(rand, 'ifa_mean')}; "
        f"keyword {dig(kw, 'top10_accuracy')}, {dig(kw, 'ifa_mean')}) "
        f"on {dig(r, 'functions')} functions"
    )
