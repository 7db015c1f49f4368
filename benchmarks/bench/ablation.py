"""Section ``ablation`` (issue 17): what reading whole functions, data-flow nodes and
identifier normalisation each buy, one branch and one seed at a time.

  ablation.<split>.<variant>.{track, overrides, valid_roc_auc, roc_auc, roc_auc_ci,
  whole_roc_auc, truncated_roc_auc, n_truncated, epochs_s, featurize_s}

Every variant is seed 0 of one branch (``transformer`` or ``gnn``) trained on a devign-preset
``pipeline`` workspace's prepared split (``bench.pipeline``), featurized again with the
variant's params overrides (``bench.ablation_worker``: the stages' own ``featurize`` and
``train_branch``). Every variant states each option under test explicitly (``*_base``: the
head-only Transformer, the GNN without data-flow nodes, no identifier normalisation), so a
row means the same whatever the preset turns on; a variant whose overrides leave the
workspace's configuration unchanged is the pipeline's own seed 0 (``reused``: true), not
trained again. ROC-AUC on test with a percentile bootstrap 95% interval (1,000 resamples),
the valid ROC-AUC that a choice between variants may look at (test is never used to choose),
and ROC-AUC on the test functions the head-only Transformer sees whole (``whole``: fewer
than ``transformer.max_length`` tokens) and on those it truncates (``truncated``) — the same
two groups for every row, so the rows compare. ``epochs_s``: the training epochs' wall time
(``history.csv``), comparable between the base rows (trained inside the pipeline) and the
variants; ``featurize_s``: the variant's featurize stage.

One seed is a noisy measure: seed-to-seed spread of the devign preset's ROC-AUC is about
0.005-0.01 (``quality.<split>.<track>.seed_std``); read differences below that as none.
``VULNFUSION_BENCH_ABLATION`` (comma-separated variant names) limits the variants run; with
``--work-dir`` a variant whose outputs are there is not trained again.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.context import BENCH_DIR, Ctx, dig
from bench.pipeline import devign_pipelines
from bench.processes import run_measured
from bench.report import fmt
from vulnfusion.config import flatten, load_config, to_dict
from vulnfusion.features import load_split
from vulnfusion.metrics import bootstrap_ci, roc_auc, sigmoid

# each option under test, stated both ways so a row does not depend on the preset
HEAD_ONLY = "transformer.windows.max_windows=1"
WINDOWS = ["transformer.windows.max_windows=3", "transformer.windows.stride=254"]
NAMES_KEPT, NAMES_NORMALISED = (f"featurize.normalize_identifiers={v}" for v in ("false", "true"))
NO_DATAFLOW, DATAFLOW = (f"featurize.dataflow_features={v}" for v in ("false", "true"))
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "transformer_base": ("transformer", [HEAD_ONLY, NAMES_KEPT]),
    "transformer_windows_max": (
        "transformer",
        [*WINDOWS, "transformer.windows.pooling=max", NAMES_KEPT],
    ),
    "transformer_windows_mean": (
        "transformer",
        [*WINDOWS, "transformer.windows.pooling=mean", NAMES_KEPT],
    ),
    "transformer_normalized": ("transformer", [HEAD_ONLY, NAMES_NORMALISED]),
    "gnn_base": ("gnn", [NO_DATAFLOW, NAMES_KEPT]),
    "gnn_dataflow": ("gnn", [DATAFLOW, NAMES_KEPT]),
    "gnn_normalized": ("gnn", [NO_DATAFLOW, NAMES_NORMALISED]),
}
ENV = "VULNFUSION_BENCH_ABLATION"


def chosen() -> list[str]:
    """The variants to run: all, or those ``VULNFUSION_BENCH_ABLATION`` names.

    Raises:
        ValueError: the variable names an unknown variant.
    """
    raw = [v.strip() for v in os.environ.get(ENV, "").split(",") if v.strip()]
    bad = sorted(set(raw) - set(VARIANTS))
    if bad:
        raise ValueError(f"{ENV}: unknown variant(s) {bad} (known: {sorted(VARIANTS)})")
    return raw or list(VARIANTS)


def is_pipeline_config(workspace: Path, sets: list[str]) -> bool:
    """True when ``sets`` leave the workspace's ``params.yaml`` configuration unchanged: the
    variant is what the pipeline already trained (its seed 0 is the row)."""
    params = workspace / "params.yaml"
    return flatten(to_dict(load_config(params, sets))) == flatten(to_dict(load_config(params)))


def _epochs_s(seed_dir: Path) -> float:
    with (seed_dir / "history.csv").open() as fh:
        return round(sum(float(r["epoch_s"]) for r in csv.DictReader(fh)), 1)


def _logits(seed_dir: Path, split: str, ids: list[str]) -> np.ndarray:
    by_id = json.loads((seed_dir / "logits.json").read_text())[split]
    return np.asarray([by_id[i] for i in ids], dtype=np.float64)


def variant_scores(workspace: Path, seed_dir: Path) -> dict[str, Any]:
    """The metrics of one trained seed against the workspace's head-only test features."""
    max_length = load_config(workspace / "params.yaml").transformer.max_length
    feats = workspace / "data/features"
    valid, test = load_split(feats / "valid.safetensors"), load_split(feats / "test.safetensors")
    y_va, y_te = valid.arrays["labels"], test.arrays["labels"]
    p_va = sigmoid(_logits(seed_dir, "valid", valid.ids))
    p_te = sigmoid(_logits(seed_dir, "test", test.ids))
    cut = np.diff(test.arrays["tok_ptr"]) >= max_length  # what the head-only reading cuts
    ci = bootstrap_ci(y_te, p_te, 0.5, "roc_auc", n_boot=1000, seed=0)
    return {
        "valid_roc_auc": roc_auc(y_va, p_va),
        "roc_auc": roc_auc(y_te, p_te),
        "roc_auc_ci": [ci["low"], ci["high"]],
        "whole_roc_auc": roc_auc(y_te[~cut], p_te[~cut]),
        "truncated_roc_auc": roc_auc(y_te[cut], p_te[cut]),
        "n_truncated": int(cut.sum()),
        "epochs_s": _epochs_s(seed_dir),
    }


def _train_variant(ctx: Ctx, workspace: Path, out: Path, track: str, sets: list[str]) -> None:
    if ctx.reuse and (out / "timing.json").exists() and (out / "seed_0/logits.json").exists():
        return
    cmd = [sys.executable, "-m", "bench.ablation_worker", "--workspace", str(workspace)]
    cmd += ["--out", str(out), "--track", track]
    for s in sets:
        cmd += ["--set", s]
    path = os.pathsep.join(p for p in (str(BENCH_DIR.parent), ctx.env.get("PYTHONPATH")) if p)
    env = {**ctx.env, "PYTHONPATH": path}
    run_measured(ctx, cmd, f"ablation-{out.parent.name}-{out.name}", env=env)


def run(ctx: Ctx) -> dict[str, Any]:
    names = chosen()
    out: dict[str, Any] = {}
    for split, (workspace, _) in devign_pipelines(ctx).items():
        rows: dict[str, Any] = {}
        for name in names:
            track, sets = VARIANTS[name]
            if is_pipeline_config(workspace, sets):  # the pipeline's own seed 0
                seed_dir = workspace / "outputs" / track / "seed_0"
                rows[name] = {
                    "track": track,
                    "overrides": sets,
                    "reused": True,
                    **variant_scores(workspace, seed_dir),
                }
                print(f"[bench] ablation {split} {name}: the pipeline's seed 0", flush=True)
                continue
            vdir = ctx.tmp / f"ablation-{split}" / name
            _train_variant(ctx, workspace, vdir, track, sets)
            timing = json.loads((vdir / "timing.json").read_text())
            scores = variant_scores(workspace, vdir / "seed_0")
            rows[name] = {"track": track, "overrides": sets, **scores, **timing}
            print(f"[bench] ablation {split} {name}: ROC-AUC {fmt(scores['roc_auc'])}", flush=True)
        out[split] = rows
    return out


def headline(r: dict[str, Any]) -> str:
    parts = []
    for split, rows in r.items():
        for name in ("transformer_windows_mean", "gnn_dataflow"):
            parts.append(f"{split} {name}: ROC-AUC {fmt(dig(rows, name, 'roc_auc'))}")
    return "; ".join(parts)


def markdown(r: dict[str, Any]) -> list[str]:
    """One table per split: a row per variant."""
    lines: list[str] = []
    for split, rows in r.items():
        lines += [
            f"**{split}** (seed 0 of one branch; whole / truncated: test functions the "
            "head-only Transformer sees whole / truncates)",
            "",
            "| variant | valid ROC-AUC | test ROC-AUC [95% CI] | whole | truncated | "
            "epochs wall s |",
            "|---|---|---|---|---|---|",
        ]
        for name, v in rows.items():
            lo, hi = v["roc_auc_ci"]
            label = f"{name} (the pipeline's seed 0)" if v.get("reused") else name
            lines.append(
                f"| {label} | {fmt(v['valid_roc_auc'])} | {fmt(v['roc_auc'])} "
                f"[{fmt(lo)}, {fmt(hi)}] | {fmt(v['whole_roc_auc'])} | "
                f"{fmt(v['truncated_roc_auc'])} | {fmt(v['epochs_s'])} |"
            )
        lines.append("")
    return lines
