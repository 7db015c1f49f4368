"""Section ``pipeline``: the whole pipeline as a user runs it — a fresh git + DVC copy of the
project with ``preset: devign`` (all 27,318 functions; ``split.strategy`` stratified, then
cross_project FFmpeg → qemu), ``dvc repro`` from ``prepare`` to ``register`` in one measured
process tree.

  pipeline.devign_wall_s, pipeline.devign_peak_rss_mb (stratified: the preset's targets,
  3600 s and 8192 MB), pipeline.splits.<split>.{wall_s,peak_rss_mb,
  peak_rss_mb_largest_process,cpu_s}, pipeline.meets_target.{wall_s,peak_rss_mb}

The two workspaces are kept for the ``quality`` section (``bench.quality``). Together these two
sections take 1.5-2.5 hours on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from bench.context import DEVIGN, ROOT, TRACKS, Ctx, once
from bench.inputs import subset_params
from bench.processes import Measured, run_measured

PROJECT_FILES = (
    "pipelines",
    "src",
    "benchmarks",
    "dvc.yaml",
    "params.yaml",
    "pyproject.toml",
    ".dvcignore",
    "MLproject",
    "python_env.yaml",
)
DEVIGN_SPLITS = ("stratified", "cross_project")
SPLITS_ENV = "VULNFUSION_BENCH_DEVIGN_SPLITS"  # e.g. "stratified": the sections use only it
PIPELINE_TIMEOUT_S = 3 * 3600


def devign_workspace(ctx: Ctx, split: str) -> Path:
    """A fresh git + DVC copy of the project whose params.yaml selects ``preset: devign``.

    Exactly what a user gets from ``dvc exp run -S preset=devign`` (plus ``-S
    split.strategy=cross_project`` for the second split); the preset's relative data path
    is made absolute because the copy lives in the temp dir. ``--quick`` points the preset
    at a sampled subset and trains every branch for one epoch (a smoke test only).
    """
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["preset"] = "devign"
    raw["split"]["strategy"] = split
    data = DEVIGN
    if ctx.quick:
        data = subset_params(ctx).parent / "devign_subset.jsonl.gz"
        for track in TRACKS:
            raw["presets"]["devign"][track]["train"]["epochs"] = 1
    raw["presets"]["devign"]["data"]["path"] = str(data)
    return project_workspace(ctx, f"pipeline-{split}", raw)


def project_workspace(ctx: Ctx, name: str, params: dict[str, Any]) -> Path:
    """``ctx.tmp/name``: a committed git + DVC copy of the project with ``params`` as its
    params.yaml (kept as it is under ``--work-dir`` when a previous invocation made it)."""
    ws = ctx.tmp / name
    if ctx.reuse and (ws / ".dvc").is_dir():
        return ws  # --work-dir: the previous invocation's copy; dvc repro brings it up to date
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir(parents=True)
    for item in PROJECT_FILES:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, ws / item, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, ws / item)
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {
        **ctx.env,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@localhost",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@localhost",
    }
    for cmd in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "bench workspace"],
    ):
        subprocess.run(cmd, cwd=ws, env=env, check=True, capture_output=True)
    return ws


def repro(ctx: Ctx, ws: Path, tag: str) -> Measured:
    """``dvc repro`` in ``ws`` with its own sqlite store and its own code, measured."""
    env = {
        **ctx.env,
        "MLFLOW_TRACKING_URI": f"sqlite:///{ws / 'mlflow.db'}",
        "PYTHONPATH": str(ws / "src"),
    }
    return run_measured(ctx, ["dvc", "repro"], tag, cwd=ws, timeout=PIPELINE_TIMEOUT_S, env=env)


def demo_pipeline(ctx: Ctx) -> Path:
    """The demo preset as shipped (what ``make run`` trains), ``dvc repro`` in its own
    workspace: the registered demo model of the ``ood`` section."""

    def build() -> Path:
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        ws = project_workspace(ctx, "pipeline-demo", raw)
        m = repro(ctx, ws, "demo-pipeline")
        print(f"[bench] demo pipeline: {m.wall_s:.0f} s", flush=True)
        return ws

    return once(ctx, "demo_pipeline", build)


def devign_splits() -> tuple[str, ...]:
    """The Devign splits this invocation trains: both, or those ``VULNFUSION_BENCH_DEVIGN_SPLITS``
    names (comma-separated; e.g. to run ``--only ood`` while another invocation still trains
    the other split in the same ``--work-dir``).

    Raises:
        ValueError: the variable names a split that is not one of :data:`DEVIGN_SPLITS`.
    """
    raw = os.environ.get(SPLITS_ENV, "").strip()
    if not raw:
        return DEVIGN_SPLITS
    chosen = tuple(s.strip() for s in raw.split(",") if s.strip())
    bad = [s for s in chosen if s not in DEVIGN_SPLITS]
    if bad:
        raise ValueError(
            f"{SPLITS_ENV}={raw!r}: unknown split(s) {bad}; choose from {DEVIGN_SPLITS}"
        )
    return chosen


def devign_pipelines(ctx: Ctx) -> dict[str, tuple[Path, Measured]]:
    """``dvc repro`` (prepare → register) with the devign preset, once per split."""

    def build() -> dict[str, tuple[Path, Measured]]:
        out = {}
        # both copies first: the whole measurement runs the code as it was when it started
        spaces = {split: devign_workspace(ctx, split) for split in devign_splits()}
        for split, ws in spaces.items():
            # the workspace's own sqlite store (as `make run` would use) and its own code
            m = repro(ctx, ws, f"devign-pipeline-{split}")
            print(
                f"[bench] devign pipeline ({split}): {m.wall_s:.0f} s, peak {m.peak_rss_mb:.0f} MB",
                flush=True,
            )
            out[split] = (ws, m)
        return out

    return once(ctx, "devign_pipelines", build)


def run(ctx: Ctx) -> dict[str, Any]:
    runs = devign_pipelines(ctx)
    per_split = {
        split: {
            "wall_s": m.wall_s,
            "peak_rss_mb": m.peak_rss_mb,
            "peak_rss_mb_largest_process": m.maxrss_mb,
            "cpu_s": m.cpu_s,
        }
        for split, (_, m) in runs.items()
    }
    out: dict[str, Any] = {
        "splits": per_split,
        "preset": "devign",
        "target_wall_s": 3600,
        "target_peak_rss_mb": 8192,
    }
    main = per_split.get("stratified")  # the target's split; absent from a cross_project-only run
    if main is not None:
        out["devign_wall_s"] = main["wall_s"]
        out["devign_peak_rss_mb"] = main["peak_rss_mb"]
        out["meets_target"] = {
            "wall_s": main["wall_s"] <= 3600,
            "peak_rss_mb": main["peak_rss_mb"] <= 8192,
        }
    return out


def headline(r: dict[str, Any]) -> str:
    """One console line: each split this run trained, with its wall time and peak RSS."""
    runs = [
        f"{split} {m['wall_s']:.0f} s, peak {m['peak_rss_mb']:.0f} MB"
        for split, m in r.get("splits", {}).items()
    ]
    return "devign preset: " + ("; ".join(runs) or "no split ran")
