"""What the sections measure on: params files, Devign samples, and the memoized stage runs
(demo and Devign-subset features, subset branches, the registered subset ensemble).

Every builder runs the real stage scripts once per invocation (``once``) and is shared by the
sections that need it, so ``--only fusion,scoring`` trains the subset branches only once.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bench.context import DEVIGN, ROOT, SEEDS, TRACKS, Ctx, once
from bench.processes import Measured, stage
from vulnfusion.config import deep_merge

# --------------------------------------------------------------------------- params + data


def write_params(ctx: Ctx, name: str, overrides: dict[str, Any]) -> Path:
    """The repo's params.yaml with ``overrides`` merged in, written to the temp dir."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    path = ctx.tmp / name
    path.write_text(yaml.safe_dump(deep_merge(raw, overrides), sort_keys=False))
    return path


def devign_data(path: Path) -> dict[str, Any]:
    return {"data": {"source": "devign", "path": str(path), "on_bad_record": "skip"}}


def devign_lines(ctx: Ctx) -> list[str]:
    def build() -> list[str]:
        with gzip.open(DEVIGN, "rt", encoding="utf-8") as fh:
            return fh.readlines()

    return once(ctx, "lines", build)


def devign_functions(ctx: Ctx, n: int, seed: int) -> list[str]:
    """``n`` real Devign functions, sampled with a fixed seed."""
    lines = devign_lines(ctx)
    pick = random.Random(seed).sample(range(len(lines)), min(n, len(lines)))
    return [json.loads(lines[i])["func"] for i in pick]


def read_history(path: Path) -> list[dict[str, float]]:
    """A stage's history.csv as one dict per epoch."""
    lines = path.read_text().strip().splitlines()
    keys = lines[0].split(",")
    return [dict(zip(keys, map(float, ln.split(",")), strict=True)) for ln in lines[1:]]


# --------------------------------------------------------------------------- all of Devign


def devign_params(ctx: Ctx) -> Path:
    return once(
        ctx, "devign_params", lambda: write_params(ctx, "params_devign.yaml", devign_data(DEVIGN))
    )


def devign_prepared(ctx: Ctx) -> Path:
    def build() -> Path:
        out = ctx.tmp / "devign" / "prepared"
        stage(
            ctx,
            "prepare.py",
            devign_params(ctx),
            "--output-dir",
            out,
            tag="prepare-devign",
            setup=True,
        )
        return out

    return once(ctx, "devign_prepared", build)


def timings_path(features: Path) -> Path:
    """Where a timed featurize run into ``features`` writes its throughput (``--timings``:
    the stage keeps it out of ``features``, whose ``stats.json`` must not change between
    runs); beside the directory, not in the repository's ``reports/``."""
    return features.parent / f"{features.name}_timing.json"


def featurize_devign(ctx: Ctx) -> tuple[Path, Measured]:
    """One timed featurize run on all of Devign (a fresh output dir every time)."""
    out = ctx.tmp / "devign" / "features"
    shutil.rmtree(out, ignore_errors=True)
    m = stage(
        ctx,
        "featurize.py",
        devign_params(ctx),
        "--prepared-dir",
        devign_prepared(ctx),
        "--output-dir",
        out,
        "--timings",
        timings_path(out),
        tag="featurize-devign",
    )
    ctx.done["devign_features"] = out
    return out, m


def devign_features(ctx: Ctx) -> Path:
    if "devign_features" not in ctx.done:
        featurize_devign(ctx)
    path: Path = ctx.done["devign_features"]
    return path


# --------------------------------------------------------------------------- demo corpus


def demo_features(ctx: Ctx) -> tuple[Path, Path]:
    """The demo corpus as shipped: prepare + featurize with the repo's params."""

    def build() -> tuple[Path, Path]:
        params = write_params(ctx, "params_demo.yaml", {})
        stage(
            ctx,
            "prepare.py",
            params,
            "--output-dir",
            ctx.tmp / "demo" / "prepared",
            tag="prepare-demo",
            setup=True,
        )
        stage(
            ctx,
            "featurize.py",
            params,
            "--prepared-dir",
            ctx.tmp / "demo" / "prepared",
            "--output-dir",
            ctx.tmp / "demo" / "features",
            tag="featurize-demo",
            setup=True,
        )
        return params, ctx.tmp / "demo" / "features"

    return once(ctx, "demo", build)


# --------------------------------------------------------------------------- Devign subset


def subset_params(ctx: Ctx) -> Path:
    """A sampled Devign subset (temp dir only) and the small params file that reads it."""

    def build() -> Path:
        lines = devign_lines(ctx)
        n = min(ctx.sizes.subset_functions, len(lines))
        pick = sorted(random.Random(0).sample(range(len(lines)), n))
        data = ctx.tmp / "devign_subset.jsonl.gz"
        with gzip.open(data, "wt", encoding="utf-8") as out:
            out.writelines(lines[i] for i in pick)
        overrides = deep_merge(
            devign_data(data),
            {
                "seeds": list(SEEDS),
                "transformer": {"train": {"epochs": 1}},
                "gnn": {"train": {"epochs": 1}},
                "fusion": {"train": {"epochs": ctx.sizes.fusion_epochs}},
            },
        )
        return write_params(ctx, "params_subset.yaml", overrides)

    return once(ctx, "subset_params", build)


def subset_features(ctx: Ctx) -> Path:
    def build() -> Path:
        params, root = subset_params(ctx), ctx.tmp / "subset"
        stage(
            ctx,
            "prepare.py",
            params,
            "--output-dir",
            root / "prepared",
            tag="prepare-subset",
            setup=True,
        )
        stage(
            ctx,
            "featurize.py",
            params,
            "--prepared-dir",
            root / "prepared",
            "--output-dir",
            root / "features",
            tag="featurize-subset",
            setup=True,
        )
        return root / "features"

    return once(ctx, "subset_features", build)


def subset_branch(ctx: Ctx, track: str, seed: int) -> Path:
    """One branch seed trained by its real stage (1 epoch) on the subset features."""

    def build() -> Path:
        out = ctx.tmp / "subset" / "outputs" / track / f"seed_{seed}"
        m = stage(
            ctx,
            f"train_{track}.py",
            subset_params(ctx),
            "--seed",
            str(seed),
            "--features-dir",
            subset_features(ctx),
            "--output-dir",
            out,
            tag=f"train-{track}-{seed}-subset",
            setup=True,
        )
        ctx.done.setdefault("subset_train_s", {})[f"{track}@{seed}"] = m.wall_s
        return out

    return once(ctx, f"subset_{track}_{seed}", build)


def subset_registered(ctx: Ctx) -> dict[str, Any]:
    """The whole stage chain on the subset, through ``register``; returns its receipt."""

    def build() -> dict[str, Any]:
        start = time.perf_counter()
        params, root = subset_params(ctx), ctx.tmp / "subset"
        feats, outputs = subset_features(ctx), root / "outputs"
        for seed in SEEDS:
            for track in TRACKS:
                subset_branch(ctx, track, seed)
        for seed in SEEDS:
            stage(
                ctx,
                "train_fusion.py",
                params,
                "--seed",
                str(seed),
                "--features-dir",
                feats,
                "--outputs-root",
                outputs,
                "--cache-dir",
                root / "cache",
                "--output-dir",
                outputs / "fusion" / f"seed_{seed}",
                tag=f"train-fusion-{seed}",
                setup=True,
            )
        for track in (*TRACKS, "fusion"):
            stage(
                ctx,
                "aggregate_seeds.py",
                params,
                "--track",
                track,
                "--input-dir",
                outputs / track,
                "--features-dir",
                feats,
                "--output",
                outputs / track / "ensemble_metrics.json",
                tag=f"aggregate-{track}",
                setup=True,
            )
        stage(
            ctx,
            "compare.py",
            params,
            "--outputs-dir",
            outputs,
            "--reports-dir",
            root / "reports",
            setup=True,
        )
        receipt = root / "reports" / "registered_model.json"
        stage(
            ctx,
            "register.py",
            params,
            "--fusion-dir",
            outputs / "fusion",
            "--features-dir",
            feats,
            "--comparison",
            root / "reports" / "comparison.json",
            "--output",
            receipt,
            setup=True,
        )
        reg: dict[str, Any] = json.loads(receipt.read_text())
        reg["pipeline_s"] = round(time.perf_counter() - start, 1)
        return reg

    return once(ctx, "registered", build)


@contextlib.contextmanager
def project_env(ctx: Ctx) -> Iterator[None]:
    """The temp MLflow store and offline flags for in-process project calls."""
    keys = ("MLFLOW_TRACKING_URI", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: ctx.env[k] for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
