"""`make bench`: throughput, memory and latency of the real vulnfusion pipeline.

    python benchmarks/run.py --output reports/bench.json [--only featurize,train] [--quick]
                             [--torch-threads N] [--keep-tmp]

Writes ``--output`` (JSON) and the same figures as a table next to it (``.md``). Results are
merged into an existing JSON: a section that is run replaces its previous object, the others
are kept, so sections can be rerun independently (``--only``). Every section runs inside
try/except and records ``{"error": "<one line>"}`` instead of stopping the benchmark.

Everything happens in a fresh temp directory (removed at the end; ``--keep-tmp`` keeps it)
with its own params files (the repo's ``params.yaml`` with keys overridden) and its own
sqlite MLflow store (``MLFLOW_TRACKING_URI``). The Devign file
``../shared/data/devign/devign.jsonl.gz`` is read in place (a sampled subset, when needed,
is written to the temp directory only). Only project code runs: the stage scripts in
``pipelines/`` as subprocesses, or library functions in-process (fusion, scoring).

Keys (dots = nesting):

featurize — ``prepare`` then the ``featurize`` stage alone on all of Devign (default params,
2 workers), median of ``featurize_repeats`` runs:
  featurize.functions_per_s      functions featurized / stage wall seconds
  featurize.wall_s               stage wall seconds (median)
  featurize.peak_rss_mb          max over the run of the summed RSS of the stage process and its
                                 children, sampled with psutil every 0.2 s (fork workers share
                                 pages, so the sum is an upper bound)
  featurize.peak_rss_mb_largest_process   getrusage(RUSAGE_CHILDREN).ru_maxrss (cross-check)
  featurize.parse_error_rate, featurize.mean_nodes, featurize.mean_edges.{ast,next_token,cfg,dfg}
                                 from the features' stats.json, weighted over all splits
  featurize.target_functions_per_s (1000), featurize.target_peak_rss_mb (4096),
  featurize.meets_target.{functions_per_s,peak_rss_mb}
train — the shared training loop per branch:
  train.{transformer,gnn}.examples_per_s.demo     the real stage (train_<track>.py) on the demo
      corpus as shipped, ``demo_epochs`` epoch(s); the last epoch's ``train_examples_per_s``
      from history.csv (note: the project's figure includes the epoch's validation pass)
  train.{transformer,gnn}.examples_per_s.devign   ``Trainer.fit`` for one epoch on a seeded
      subset of ``devign_batches`` batches of the Devign train split, median of
      ``devign_repeats`` fits (benchmarks/train_worker.py;
      a full Devign epoch takes 5-20 min per branch on 2 cores)
  train.{transformer,gnn}.peak_rss_mb             peak RSS of the Devign-sized run (process tree)
  train.{transformer,gnn}.peak_rss_mb_demo        peak RSS of the demo stage run
  train.padding_overhead.{bucketed,fixed_length,unbucketed,target (1.15),meets_target}
      padded / real tokens over one epoch of the Devign train split's token lengths:
      BucketBatchSampler(bucket=True, batch 32) padded to a multiple of 8, vs padding every
      row to max_length, vs unbucketed random batches
fusion — ``vulnfusion.fusion.train_fusion`` per seed (seed 0, equal epochs) on a Devign subset of
``subset_functions`` functions (prepared + featurized by the stages; branches trained 1 epoch):
  fusion.cached_s, fusion.uncached_s (medians), fusion.cached_speedup (uncached_s / cached_s),
  fusion.cache_build_s (one-off frozen-feature cache build, excluded from cached_s),
  fusion.{cached,uncached}_epoch_s (median epoch_s from history.csv), fusion.epoch_speedup,
  fusion.metrics_identical (valid f1_at_best_threshold and test roc_auc within 1e-6),
  fusion.metrics_abs_diff, fusion.n_train, fusion.epochs, fusion.data, fusion.target (20),
  fusion.branch_train_s (the seed-0 branch stages, when this section trained them)
  Note: cached_s includes the per-seed fixed costs (loading, MLflow run, figures), so the
  whole-call speedup grows with n_train; epoch_speedup isolates the training epochs.
scoring — the registered ensemble (the full stage chain on the same subset: seeds 0,1,2, branch
epochs 1, through ``register``) loaded with mlflow.pyfunc.load_model, Devign functions scored
in batches of 256:
  scoring.functions_per_s (256 / median batch seconds), scoring.batch_size (256),
  scoring.batches, scoring.batch_s, scoring.load_s, scoring.model_uri, scoring.target (100),
  scoring.pipeline_s (building the registered model, when this section built it)
serving — the real ``mlflow models serve`` on 127.0.0.1, single-function POST /invocations
requests sent sequentially (after 5 warm-up requests):
  serving.p50_ms, serving.p95_ms, serving.mean_ms, serving.requests, serving.errors,
  serving.max_ms, serving.startup_s, serving.target_p50_ms (100), serving.meets_target
Every section with a target also has ``meets_target`` (measured against it, never assumed).
pipeline — the whole pipeline as a user runs it: a fresh git + DVC copy of the project with
``preset: devign`` (all 27,318 functions; ``split.strategy`` stratified, then cross_project
FFmpeg → qemu), ``dvc repro`` from ``prepare`` to ``register`` in one measured process tree:
  pipeline.devign_wall_s, pipeline.devign_peak_rss_mb (stratified: the preset's targets,
  3600 s and 8192 MB), pipeline.splits.<split>.{wall_s,peak_rss_mb,
  peak_rss_mb_largest_process,cpu_s}, pipeline.meets_target.{wall_s,peak_rss_mb}
quality — from those two workspaces (``benchmarks/quality.py``), per split:
  quality.<split>.<track>.ensemble.{accuracy,f1,roc_auc,pr_auc,threshold,precision,recall,
  <metric>_ci,minus_best_seed_f1,minus_best_seed_f1_ci,best_seed}
  quality.<split>.<track>.seeds  (a list of the same per seed), .seed_mean, .seed_std
  quality.<split>.baselines.{all_positive,tfidf_lr}.{accuracy,f1,roc_auc,pr_auc,...,_ci}
  quality.<split>.lifts (fusion over the best branch, ensemble over the best seed, from
  ``compare``), quality.<split>.data (split sizes, truncation and parse-error rates),
  quality.<split>.goal (issue 6's quality goal, measured)
  Accuracy is at 0.5, F1 at the threshold chosen on valid; ``_ci`` are percentile bootstrap
  95% intervals over the test set (1,000 resamples).
  Together these two sections take 1.5-2.5 hours on 2 cores; ``--only`` leaves them out.
meta — date, git_sha, python, torch, cpu_count, torch_threads, torch_threads_setting, platform,
  command, quick, devign, and per section
  meta.sections.<name>.{date,wall_s,load_avg_before,load_avg_after,git_sha,quick,torch_threads}

Runtime (2 cores, sizes in ``FULL`` below): a full run is sized to stay under ~25 min even with
other jobs on the machine — featurize 3 × 0.75-1.5 min; train 1.5-6 min; the subset pipeline
(1,500 functions: 3 seeds × 2 branches × 1 epoch, 3 fusion seeds, aggregate, compare,
register) 4-8 min; fusion/scoring/serving measurements 3-6 min. About 12 min at a load
average of 2-3.
Contention matters a lot: with torch's default intra-op threads (one per core) a second busy
process slows the GNN and Transformer loops several-fold, so every section records the load
average before and after, medians are taken where runs are cheap, and ``--torch-threads 1``
gives steadier (not as-shipped) figures. Runs that only build inputs for a measurement (demo
and subset prepare/featurize, the subset pipeline's stages) get OMP/MKL_NUM_THREADS=1 unless
``--torch-threads`` is given; measured runs keep the shipped default. ``--quick`` (~5 min)
featurizes a Devign subset instead of the whole file and uses smaller sizes: a smoke test,
not figures to quote.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import json
import logging
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"
DEVIGN = (ROOT.parent / "shared" / "data" / "devign" / "devign.jsonl.gz").resolve()
VENV_BIN = Path(sys.executable).parent
TRACKS = ("transformer", "gnn")
SEEDS = (0, 1, 2)
STAGE_TIMEOUT_S = 1800
MB = 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    featurize_repeats: int = 3
    featurize_full: bool = True  # False: featurize the Devign subset instead (--quick)
    demo_epochs: int = 2
    devign_batches: int = 12
    devign_repeats: int = 3
    subset_functions: int = 1500
    fusion_epochs: int = 2
    fusion_cached_repeats: int = 3
    fusion_uncached_repeats: int = 3
    scoring_batches: int = 5
    serving_requests: int = 200
    serving_budget_s: float = 300.0


FULL = Sizes()
QUICK = Sizes(featurize_repeats=1, featurize_full=False, demo_epochs=1, devign_batches=4,
              devign_repeats=1, fusion_uncached_repeats=1, subset_functions=300,
              scoring_batches=2, serving_requests=20, serving_budget_s=60.0)


@dataclass
class Ctx:
    """State shared by the sections of one invocation (memoized workspaces in ``done``)."""

    tmp: Path
    sizes: Sizes
    env: dict[str, str]  # measured runs: torch threads as shipped (or --torch-threads)
    setup_env: dict[str, str]  # runs that only build inputs: 1 thread unless --torch-threads
    done: dict[str, Any] = field(default_factory=dict)
    runs: int = 0

    @property
    def logs(self) -> Path:
        return self.tmp / "logs"


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_rss_mb: float  # summed over the process tree, sampled
    maxrss_mb: float  # largest single reaped descendant so far (getrusage cross-check)
    cpu_s: float  # user + sys of the reaped tree


class RssSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._halt.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def _kill_group(proc: subprocess.Popen[Any], grace_s: float = 20.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)


def _last_line(path: Path) -> str:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no output)"


def run_measured(ctx: Ctx, cmd: list[str], tag: str, setup: bool = False,
                 timeout: float = STAGE_TIMEOUT_S, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> Measured:
    """Run ``cmd`` in the temp dir (own process group), log to a file, measure it."""
    ctx.runs += 1
    log_path = ctx.logs / f"{ctx.runs:03d}-{tag}.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log_path.open("w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env or (ctx.setup_env if setup else ctx.env),
                                cwd=cwd or ctx.tmp,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        sampler = RssSampler(proc.pid)
        sampler.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise RuntimeError(f"{tag} timed out after {timeout:.0f} s") from None
        finally:
            sampler.stop()
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        raise RuntimeError(f"{tag} exited with {rc}: {_last_line(log_path)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(round(wall, 2), round(sampler.peak / MB, 1), round(after.ru_maxrss / 1024, 1),
                    round(cpu, 2))


def stage(ctx: Ctx, script: str, params: Path, *args: str | Path, tag: str = "",
          setup: bool = False) -> Measured:
    """One pipeline stage script, exactly as DVC would call it (but with our paths).

    ``setup``: the run only builds inputs for a measurement (its time is not a headline
    figure), so it gets ``ctx.setup_env``.
    """
    cmd = [sys.executable, str(PIPELINES / script), "--params", str(params), *map(str, args)]
    return run_measured(ctx, cmd, tag or Path(script).stem, setup)


# --------------------------------------------------------------------------- params + data


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        both = isinstance(v, dict) and isinstance(out.get(k), dict)
        out[k] = deep_merge(out[k], v) if both else v
    return out


def write_params(ctx: Ctx, name: str, overrides: dict[str, Any]) -> Path:
    """The repo's params.yaml with ``overrides`` merged in, written to the temp dir."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    path = ctx.tmp / name
    path.write_text(yaml.safe_dump(deep_merge(raw, overrides), sort_keys=False))
    return path


def devign_data(path: Path) -> dict[str, Any]:
    return {"data": {"source": "devign", "path": str(path), "on_bad_record": "skip"}}


def devign_lines(ctx: Ctx) -> list[str]:
    if "lines" not in ctx.done:
        with gzip.open(DEVIGN, "rt", encoding="utf-8") as fh:
            ctx.done["lines"] = fh.readlines()
    lines: list[str] = ctx.done["lines"]
    return lines


def devign_functions(ctx: Ctx, n: int, seed: int) -> list[str]:
    """``n`` real Devign functions, sampled with a fixed seed."""
    lines = devign_lines(ctx)
    pick = random.Random(seed).sample(range(len(lines)), min(n, len(lines)))
    return [json.loads(lines[i])["func"] for i in pick]


def once(ctx: Ctx, key: str, build: Callable[[], T]) -> T:
    """``build()`` the first time ``key`` is asked for in this invocation, then its result."""
    if key not in ctx.done:
        ctx.done[key] = build()
    return cast(T, ctx.done[key])


# --------------------------------------------------------------------------- workspaces


def devign_params(ctx: Ctx) -> Path:
    return once(ctx, "devign_params", lambda: write_params(ctx, "params_devign.yaml",
                                                           devign_data(DEVIGN)))


def devign_prepared(ctx: Ctx) -> Path:
    def build() -> Path:
        out = ctx.tmp / "devign" / "prepared"
        stage(ctx, "prepare.py", devign_params(ctx), "--output-dir", out, tag="prepare-devign",
              setup=True)
        return out

    return once(ctx, "devign_prepared", build)


def featurize_devign(ctx: Ctx) -> tuple[Path, Measured]:
    """One timed featurize run on all of Devign (a fresh output dir every time)."""
    out = ctx.tmp / "devign" / "features"
    shutil.rmtree(out, ignore_errors=True)
    m = stage(ctx, "featurize.py", devign_params(ctx), "--prepared-dir", devign_prepared(ctx),
              "--output-dir", out, tag="featurize-devign")
    ctx.done["devign_features"] = out
    return out, m


def devign_features(ctx: Ctx) -> Path:
    if "devign_features" not in ctx.done:
        featurize_devign(ctx)
    path: Path = ctx.done["devign_features"]
    return path


def demo_features(ctx: Ctx) -> tuple[Path, Path]:
    """The demo corpus as shipped: prepare + featurize with the repo's params."""
    def build() -> tuple[Path, Path]:
        params = write_params(ctx, "params_demo.yaml", {})
        stage(ctx, "prepare.py", params, "--output-dir", ctx.tmp / "demo" / "prepared",
              tag="prepare-demo", setup=True)
        stage(ctx, "featurize.py", params, "--prepared-dir", ctx.tmp / "demo" / "prepared",
              "--output-dir", ctx.tmp / "demo" / "features", tag="featurize-demo", setup=True)
        return params, ctx.tmp / "demo" / "features"

    return once(ctx, "demo", build)


def subset_params(ctx: Ctx) -> Path:
    """A sampled Devign subset (temp dir only) and the small params file that reads it."""
    def build() -> Path:
        lines = devign_lines(ctx)
        n = min(ctx.sizes.subset_functions, len(lines))
        pick = sorted(random.Random(0).sample(range(len(lines)), n))
        data = ctx.tmp / "devign_subset.jsonl.gz"
        with gzip.open(data, "wt", encoding="utf-8") as out:
            out.writelines(lines[i] for i in pick)
        overrides = deep_merge(devign_data(data), {
            "seeds": list(SEEDS),
            "transformer": {"train": {"epochs": 1}}, "gnn": {"train": {"epochs": 1}},
            "fusion": {"train": {"epochs": ctx.sizes.fusion_epochs}},
        })
        return write_params(ctx, "params_subset.yaml", overrides)

    return once(ctx, "subset_params", build)


def subset_features(ctx: Ctx) -> Path:
    def build() -> Path:
        params, root = subset_params(ctx), ctx.tmp / "subset"
        stage(ctx, "prepare.py", params, "--output-dir", root / "prepared", tag="prepare-subset",
              setup=True)
        stage(ctx, "featurize.py", params, "--prepared-dir", root / "prepared",
              "--output-dir", root / "features", tag="featurize-subset", setup=True)
        return root / "features"

    return once(ctx, "subset_features", build)


def subset_branch(ctx: Ctx, track: str, seed: int) -> Path:
    """One branch seed trained by its real stage (1 epoch) on the subset features."""
    def build() -> Path:
        out = ctx.tmp / "subset" / "outputs" / track / f"seed_{seed}"
        m = stage(ctx, f"train_{track}.py", subset_params(ctx), "--seed", str(seed),
                  "--features-dir", subset_features(ctx), "--output-dir", out,
                  tag=f"train-{track}-{seed}-subset", setup=True)
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
            stage(ctx, "train_fusion.py", params, "--seed", str(seed), "--features-dir", feats,
                  "--outputs-root", outputs, "--cache-dir", root / "cache",
                  "--output-dir", outputs / "fusion" / f"seed_{seed}", tag=f"train-fusion-{seed}",
                  setup=True)
        for track in (*TRACKS, "fusion"):
            stage(ctx, "aggregate_seeds.py", params, "--track", track,
                  "--input-dir", outputs / track, "--features-dir", feats,
                  "--output", outputs / track / "ensemble_metrics.json", tag=f"aggregate-{track}",
                  setup=True)
        stage(ctx, "compare.py", params, "--outputs-dir", outputs,
              "--reports-dir", root / "reports", setup=True)
        receipt = root / "reports" / "registered_model.json"
        stage(ctx, "register.py", params, "--fusion-dir", outputs / "fusion", "--features-dir",
              feats, "--comparison", root / "reports" / "comparison.json", "--output", receipt,
              setup=True)
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


# --------------------------------------------------------------------------- featurize


def _weighted(splits: dict[str, dict[str, Any]], get: Callable[[dict[str, Any]], float]) -> float:
    total = sum(int(s["functions"]) for s in splits.values())
    weighted = sum(get(s) * int(s["functions"]) for s in splits.values())
    return round(weighted / max(total, 1), 4)


def _edge(kind: str, split: dict[str, Any]) -> float:
    return float(split["mean_edges"][kind])


def feature_stats(features: Path) -> dict[str, Any]:
    """Parse errors and graph sizes from stats.json, weighted over all splits."""
    stats = json.loads((features / "stats.json").read_text())
    splits = stats["splits"]
    edge_types = list(splits["train"]["mean_edges"])
    return {
        "functions": sum(s["functions"] for s in splits.values()),
        "parse_error_rate": _weighted(splits, lambda s: s["parse_error_rate"]),
        "mean_nodes": round(_weighted(splits, lambda s: s["mean_nodes"]), 2),
        "mean_edges": {t: round(_weighted(splits, partial(_edge, t)), 2) for t in edge_types},
        "mean_tokens": round(_weighted(splits, lambda s: s["mean_tokens"]), 1),
        "graph_functions_per_s": stats["timing"]["graph_functions_per_s"],
    }


def bench_featurize(ctx: Ctx) -> dict[str, Any]:
    sizes = ctx.sizes
    if sizes.featurize_full:
        runs = [featurize_devign(ctx) for _ in range(sizes.featurize_repeats)]
        data = f"all of Devign ({DEVIGN.name})"
    else:
        params, root = subset_params(ctx), ctx.tmp / "subset"
        subset_features(ctx)
        out = root / "features_bench"
        m = stage(ctx, "featurize.py", params, "--prepared-dir", root / "prepared",
                  "--output-dir", out, tag="featurize-subset-bench")
        runs = [(out, m)]
        data = f"Devign subset of {sizes.subset_functions} functions (--quick)"
    features = runs[-1][0]
    st = feature_stats(features)
    wall = statistics.median(m.wall_s for _, m in runs)
    peak = max(m.peak_rss_mb for _, m in runs)
    fps = st["functions"] / wall
    return {
        "functions_per_s": round(fps, 1), "wall_s": round(wall, 2), "peak_rss_mb": peak,
        "peak_rss_mb_largest_process": max(m.maxrss_mb for _, m in runs),
        "cpu_s": statistics.median(m.cpu_s for _, m in runs),
        "runs_wall_s": [m.wall_s for _, m in runs], "functions": st["functions"],
        "parse_error_rate": st["parse_error_rate"], "mean_nodes": st["mean_nodes"],
        "mean_edges": st["mean_edges"], "mean_tokens": st["mean_tokens"],
        "graph_functions_per_s_reported": st["graph_functions_per_s"],
        "target_functions_per_s": 1000, "target_peak_rss_mb": 4096,
        "meets_target": {"functions_per_s": fps >= 1000, "peak_rss_mb": peak <= 4096},
        "data": data, "num_workers": 2,
    }


# --------------------------------------------------------------------------- train


def read_history(path: Path) -> list[dict[str, float]]:
    lines = path.read_text().strip().splitlines()
    keys = lines[0].split(",")
    return [dict(zip(keys, map(float, ln.split(",")), strict=True)) for ln in lines[1:]]


def train_demo(ctx: Ctx, track: str) -> dict[str, Any]:
    params, features = demo_features(ctx)
    out = ctx.tmp / "demo" / "outputs" / track / "seed_0"
    m = stage(ctx, f"train_{track}.py", params, "--seed", "0", "--features-dir", features,
              "--output-dir", out, "--epochs", str(ctx.sizes.demo_epochs), "--patience", "0",
              tag=f"train-{track}-demo")
    per_epoch = [row["train_examples_per_s"] for row in read_history(out / "history.csv")]
    return {"examples_per_s": round(per_epoch[-1], 2),
            "epochs_examples_per_s": [round(x, 2) for x in per_epoch],
            "stage_wall_s": m.wall_s, "peak_rss_mb": m.peak_rss_mb}


def train_devign(ctx: Ctx, track: str) -> dict[str, Any]:
    features = devign_features(ctx)
    result = ctx.tmp / f"train_worker_{track}.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_worker.py"), "--params",
           str(devign_params(ctx)), "--features-dir", str(features), "--track", track,
           "--batches", str(ctx.sizes.devign_batches),
           "--repeats", str(ctx.sizes.devign_repeats), "--output", str(result)]
    m = run_measured(ctx, cmd, f"train-{track}-devign")
    return {**json.loads(result.read_text()), "peak_rss_mb": m.peak_rss_mb,
            "process_wall_s": m.wall_s}


def padding_overheads(features: Path, batch_size: int = 32, multiple: int = 8) -> dict[str, Any]:
    """Padded / real tokens over one epoch of the train split's token lengths."""
    import numpy as np

    from vulnfusion.batching import BucketBatchSampler, FeatureDataset, padding_overhead
    from vulnfusion.config import load_config
    from vulnfusion.featurize import load_split

    max_length = load_config(ROOT / "params.yaml").transformer.max_length
    lengths = FeatureDataset(load_split(features / "train.safetensors")).lengths("tokens")

    def batches(bucket: bool) -> list[list[int]]:
        return list(BucketBatchSampler(lengths, batch_size, shuffle=True, seed=0, bucket=bucket))

    bucketed = padding_overhead(lengths, batches(True), multiple)
    # multiple = max_length: every batch is padded to exactly max_length (lengths ≤ max_length)
    fixed = padding_overhead(lengths, batches(False), max_length)
    return {"bucketed": round(bucketed, 4), "fixed_length": round(fixed, 4),
            "unbucketed": round(padding_overhead(lengths, batches(False), multiple), 4),
            "target": 1.15, "meets_target": bucketed <= 1.15, "batch_size": batch_size,
            "pad_to_multiple_of": multiple, "max_length": max_length,
            "examples": len(lengths), "longest": int(np.max(lengths))}


def bench_train(ctx: Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for track in TRACKS:
        demo, devign = train_demo(ctx, track), train_devign(ctx, track)
        out[track] = {
            "examples_per_s": {"demo": demo["examples_per_s"], "devign": devign["examples_per_s"]},
            "peak_rss_mb": devign["peak_rss_mb"], "peak_rss_mb_demo": demo["peak_rss_mb"],
            "detail": {"demo": demo, "devign": devign},
        }
    out["padding_overhead"] = padding_overheads(devign_features(ctx))
    return out


# --------------------------------------------------------------------------- fusion


def build_fusion_cache(ctx: Ctx, cfg: Any, features: Path, cache: Path) -> float:
    """The one-off frozen-feature cache for seed 0's branches; returns its build seconds."""
    import torch

    from vulnfusion.branches import load_features
    from vulnfusion.fusion import cached_features, load_branch

    feats = load_features(features)
    branches = [load_branch(t, subset_branch(ctx, t, 0), cfg, feats) for t in TRACKS]
    start = time.perf_counter()
    for b in branches:
        assert b is not None
        cached_features(b, feats, cache, torch.device("cpu"))
    return time.perf_counter() - start


def timed_fusion(ctx: Ctx, cfg: Any, out: Path, cache: Path | None) -> tuple[float, dict[str, Any]]:
    from vulnfusion.fusion import train_fusion

    start = time.perf_counter()
    metrics = train_fusion(cfg, 0, subset_features(ctx), out, subset_branch(ctx, "transformer", 0),
                           subset_branch(ctx, "gnn", 0), cache, stage="bench_fusion")
    return time.perf_counter() - start, metrics


def median_epoch_s(runs: list[Path]) -> float:
    return statistics.median(row["epoch_s"] for d in runs
                             for row in read_history(d / "history.csv"))


def bench_fusion(ctx: Ctx) -> dict[str, Any]:
    from vulnfusion.config import load_config

    epochs = ctx.sizes.fusion_epochs
    features = subset_features(ctx)
    root = ctx.tmp / "fusion_bench"
    with project_env(ctx):
        cfg = load_config(subset_params(ctx), {"fusion.train.epochs": epochs})
        build_s = build_fusion_cache(ctx, cfg, features, root / "cache")
        cached = [timed_fusion(ctx, cfg, root / f"cached_{i}", root / "cache")
                  for i in range(ctx.sizes.fusion_cached_repeats)]
        uncached = [timed_fusion(ctx, cfg, root / f"uncached_{i}", None)
                    for i in range(ctx.sizes.fusion_uncached_repeats)]
    c_s = statistics.median(t for t, _ in cached)
    u_s = statistics.median(t for t, _ in uncached)
    mc, mu = cached[0][1], uncached[0][1]
    diff = {"f1_at_best_threshold": abs(mc["f1_at_best_threshold"] - mu["f1_at_best_threshold"]),
            "test_roc_auc": abs(mc["test"]["roc_auc"] - mu["test"]["roc_auc"])}
    c_ep = median_epoch_s([root / f"cached_{i}" for i in range(len(cached))])
    u_ep = median_epoch_s([root / f"uncached_{i}" for i in range(len(uncached))])
    n_train = json.loads((features / "stats.json").read_text())["splits"]["train"]["functions"]
    return {
        "cached_s": round(c_s, 2), "uncached_s": round(u_s, 2),
        "cached_speedup": round(u_s / c_s, 2), "cache_build_s": round(build_s, 2),
        "cached_epoch_s": round(c_ep, 3), "uncached_epoch_s": round(u_ep, 3),
        "epoch_speedup": round(u_ep / max(c_ep, 1e-9), 1),
        "metrics_identical": all(v <= 1e-6 for v in diff.values()),
        "metrics_abs_diff": {k: float(f"{v:.3g}") for k, v in diff.items()},
        "cached_runs_s": [round(t, 2) for t, _ in cached],
        "uncached_runs_s": [round(t, 2) for t, _ in uncached],
        "n_train": n_train, "epochs": epochs, "seed": 0, "target": 20,
        "meets_target": u_s / c_s >= 20,
        "data": f"Devign subset of {ctx.sizes.subset_functions} functions (seeded sample), "
                "featurized by the stages; branches trained 1 epoch by train_<track>.py",
        "branch_train_s": {t: ctx.done.get("subset_train_s", {}).get(f"{t}@0") for t in TRACKS},
    }


# --------------------------------------------------------------------------- scoring


def bench_scoring(ctx: Ctx, batch_size: int = 256) -> dict[str, Any]:
    reg = subset_registered(ctx)
    n = ctx.sizes.scoring_batches
    funcs = devign_functions(ctx, batch_size * n + 8, seed=1)
    with project_env(ctx):
        import mlflow.pyfunc
        import pandas as pd

        start = time.perf_counter()
        model = mlflow.pyfunc.load_model(reg["registry_uri"])
        load_s = time.perf_counter() - start
        model.predict(pd.DataFrame({"func": funcs[-8:]}))  # warm-up
        times = []
        for i in range(n):
            batch = pd.DataFrame({"func": funcs[i * batch_size : (i + 1) * batch_size]})
            start = time.perf_counter()
            pred = model.predict(batch)
            times.append(time.perf_counter() - start)
            if len(pred) != batch_size:
                raise RuntimeError(f"scored {len(pred)} rows of {batch_size}")
    fps = batch_size / statistics.median(times)
    return {"functions_per_s": round(fps, 1), "batch_size": batch_size, "batches": n,
            "batch_s": [round(t, 2) for t in times], "load_s": round(load_s, 2),
            "model_uri": reg["registry_uri"], "version": reg["version"], "seeds": list(SEEDS),
            "target": 100, "meets_target": fps >= 100,
            "pipeline_s": reg.get("pipeline_s")}


# --------------------------------------------------------------------------- serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post_json(url: str, body: dict[str, Any], timeout: float = 60.0) -> int:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def wait_ping(url: str, proc: subprocess.Popen[Any], log: Path, timeout: float = 240.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {_last_line(log)}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server did not answer /ping within {timeout:.0f} s")


def send_requests(url: str, funcs: list[str], budget_s: float) -> tuple[list[float], int]:
    """Sequential single-function requests; latencies (ms) of the 200 OK ones, error count."""
    lat, errors, start = [], 0, time.perf_counter()
    for f in funcs:
        if time.perf_counter() - start > budget_s:
            break
        t0 = time.perf_counter()
        status = post_json(f"{url}/invocations", {"dataframe_records": [{"func": f}]})
        if status == 200:
            lat.append((time.perf_counter() - t0) * 1000)
        else:
            errors += 1
    return lat, errors


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def bench_serving(ctx: Ctx, warmup: int = 5) -> dict[str, Any]:
    reg = subset_registered(ctx)
    n = ctx.sizes.serving_requests
    funcs = devign_functions(ctx, n + warmup, seed=2)
    port, log = free_port(), ctx.logs / "serve.log"
    cmd = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", reg["registry_uri"],
           "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, env=ctx.env, cwd=ctx.tmp, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        startup = wait_ping(url, proc, log)
        send_requests(url, funcs[:warmup], ctx.sizes.serving_budget_s)
        lat, errors = send_requests(url, funcs[warmup:], ctx.sizes.serving_budget_s)
    finally:
        _kill_group(proc)
    if not lat:
        raise RuntimeError(f"no successful request ({errors} errors): {_last_line(log)}")
    p50 = percentile(lat, 50)
    return {"p50_ms": round(p50, 1), "p95_ms": round(percentile(lat, 95), 1),
            "mean_ms": round(statistics.fmean(lat), 1), "max_ms": round(max(lat), 1),
            "requests": len(lat), "errors": errors, "startup_s": round(startup, 1),
            "model_uri": reg["registry_uri"], "target_p50_ms": 100, "meets_target": p50 <= 100}


# --------------------------------------------------------------------------- driver

# --------------------------------------------------------------------------- Devign pipeline

PROJECT_FILES = ("pipelines", "src", "benchmarks", "dvc.yaml", "params.yaml", "pyproject.toml",
                 ".dvcignore", "MLproject", "python_env.yaml")
DEVIGN_SPLITS = ("stratified", "cross_project")
PIPELINE_TIMEOUT_S = 3 * 3600


def devign_workspace(ctx: Ctx, split: str) -> Path:
    """A fresh git + DVC copy of the project whose params.yaml selects ``preset: devign``.

    Exactly what a user gets from ``dvc exp run -S preset=devign`` (plus ``-S
    split.strategy=cross_project`` for the second split); the preset's relative data path
    is made absolute because the copy lives in the temp dir. ``--quick`` points the preset
    at a sampled subset and trains every branch for one epoch (a smoke test only).
    """
    ws = ctx.tmp / f"pipeline-{split}"
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir(parents=True)
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, ws / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, ws / name)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["preset"] = "devign"
    raw["split"]["strategy"] = split
    data = DEVIGN
    if ctx.sizes is QUICK:
        data = subset_params(ctx).parent / "devign_subset.jsonl.gz"
        for track in ("transformer", "gnn"):
            raw["presets"]["devign"][track]["train"]["epochs"] = 1
    raw["presets"]["devign"]["data"]["path"] = str(data)
    (ws / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    env = {**ctx.env, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "bench workspace"]):
        subprocess.run(cmd, cwd=ws, env=env, check=True, capture_output=True)
    return ws


def devign_pipelines(ctx: Ctx) -> dict[str, tuple[Path, Measured]]:
    """``dvc repro`` (prepare → register) with the devign preset, once per split."""
    def build() -> dict[str, tuple[Path, Measured]]:
        out = {}
        # both copies first: the whole measurement runs the code as it was when it started
        spaces = {split: devign_workspace(ctx, split) for split in DEVIGN_SPLITS}
        for split, ws in spaces.items():
            # the workspace's own sqlite store (as `make run` would use) and its own code
            env = {**ctx.env, "MLFLOW_TRACKING_URI": f"sqlite:///{ws / 'mlflow.db'}",
                   "PYTHONPATH": str(ws / "src")}
            m = run_measured(ctx, ["dvc", "repro"], f"devign-pipeline-{split}", cwd=ws,
                             timeout=PIPELINE_TIMEOUT_S, env=env)
            print(f"[bench] devign pipeline ({split}): {m.wall_s:.0f} s, "
                  f"peak {m.peak_rss_mb:.0f} MB", flush=True)
            out[split] = (ws, m)
        return out

    return once(ctx, "devign_pipelines", build)


def bench_pipeline(ctx: Ctx) -> dict[str, Any]:
    runs = devign_pipelines(ctx)
    per_split = {split: {"wall_s": m.wall_s, "peak_rss_mb": m.peak_rss_mb,
                         "peak_rss_mb_largest_process": m.maxrss_mb, "cpu_s": m.cpu_s}
                 for split, (_, m) in runs.items()}
    main = per_split["stratified"]
    return {"devign_wall_s": main["wall_s"], "devign_peak_rss_mb": main["peak_rss_mb"],
            "splits": per_split, "preset": "devign", "target_wall_s": 3600,
            "target_peak_rss_mb": 8192,
            "meets_target": {"wall_s": main["wall_s"] <= 3600,
                             "peak_rss_mb": main["peak_rss_mb"] <= 8192}}


def bench_quality(ctx: Ctx) -> dict[str, Any]:
    from quality import quality_summary

    return {split: quality_summary(ws) for split, (ws, _) in devign_pipelines(ctx).items()}


SECTIONS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "featurize": bench_featurize, "train": bench_train, "fusion": bench_fusion,
    "scoring": bench_scoring, "serving": bench_serving,
    "pipeline": bench_pipeline, "quality": bench_quality,
}


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


def headline(name: str, r: dict[str, Any]) -> str:
    if "error" in r:
        return f"ERROR {r['error']}"

    def g(*keys: str) -> Any:
        return _dig(r, keys)

    return {
        "featurize": f"{g('functions_per_s')} fn/s, peak {g('peak_rss_mb')} MB, "
                     f"parse errors {g('parse_error_rate')}",
        "train": f"transformer {g('transformer', 'examples_per_s')} ex/s, "
                 f"gnn {g('gnn', 'examples_per_s')} ex/s, "
                 f"padding {g('padding_overhead', 'bucketed')} vs "
                 f"{g('padding_overhead', 'fixed_length')}",
        "fusion": f"cached {g('cached_s')} s vs uncached {g('uncached_s')} s → "
                  f"{g('cached_speedup')}×, identical={g('metrics_identical')}",
        "scoring": f"{g('functions_per_s')} fn/s (batch {g('batch_size')})",
        "serving": f"p50 {g('p50_ms')} ms, p95 {g('p95_ms')} ms over {g('requests')} requests",
        "pipeline": f"devign preset {g('devign_wall_s')} s, peak {g('devign_peak_rss_mb')} MB",
        "quality": "; ".join(
            f"{sp}: fusion acc {_fmt(g(sp, 'fusion', 'ensemble', 'accuracy'))} "
            f"ROC {_fmt(g(sp, 'fusion', 'ensemble', 'roc_auc'))} vs tfidf acc "
            f"{_fmt(g(sp, 'baselines', 'tfidf_lr', 'accuracy'))} "
            f"ROC {_fmt(g(sp, 'baselines', 'tfidf_lr', 'roc_auc'))}" for sp in r),
    }[name]


def _dig(d: Any, keys: tuple[str, ...]) -> Any:
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def run_section(ctx: Ctx, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    before, start = os.getloadavg(), time.perf_counter()
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    try:
        result = SECTIONS[name](ctx)
    except Exception as exc:  # one section failing must not stop the others
        result = {"error": one_line(exc)}
    wall, after = time.perf_counter() - start, os.getloadavg()
    meta = {"date": date, "wall_s": round(wall, 1), "quick": ctx.sizes is QUICK,
            "load_avg_before": [round(x, 2) for x in before],
            "load_avg_after": [round(x, 2) for x in after]}
    print(f"[bench] {name}: {headline(name, result)} ({wall:.0f} s, load {before[0]:.2f}"
          f"→{after[0]:.2f})", flush=True)
    return result, meta


def git_sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_meta(quick: bool, threads: int | None) -> dict[str, Any]:
    import platform

    import torch

    if threads:
        torch.set_num_threads(threads)
    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "torch_threads_setting": threads or "default (torch picks)",
            "git_sha": git_sha(), "python": platform.python_version(),
            "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "command": " ".join([Path(sys.executable).name, *sys.argv]), "quick": quick,
            "devign": str(DEVIGN)}


def make_env(tmp: Path, threads: int | None) -> dict[str, str]:
    pinned = {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")} if threads else {}
    return {**os.environ, **pinned, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
            "GIT_PYTHON_REFRESH": "quiet", "DVC_NO_ANALYTICS": "1", "PYTHONUNBUFFERED": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


# --------------------------------------------------------------------------- output


def merge_results(path: Path, results: dict[str, Any], meta: dict[str, Any],
                  section_meta: dict[str, Any]) -> dict[str, Any]:
    """Existing JSON + this run: run sections replace theirs, meta is merged."""
    try:
        old = json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        old = {}
    merged = {**old, **results}
    sections = {**old.get("meta", {}).get("sections", {}), **section_meta}
    merged["meta"] = {**old.get("meta", {}), **meta, "sections": sections}
    return merged


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        rows += flatten(v, key + ".") if isinstance(v, dict) else [(key, v)]
    return rows


TARGETS = (  # (label, measured key path, target key path, higher is better)
    ("featurize functions/s", ("featurize", "functions_per_s"),
     ("featurize", "target_functions_per_s"), True),
    ("featurize peak RSS (MB)", ("featurize", "peak_rss_mb"), ("featurize", "target_peak_rss_mb"),
     False),
    ("padding overhead (bucketed)", ("train", "padding_overhead", "bucketed"),
     ("train", "padding_overhead", "target"), False),
    ("fusion cached speedup", ("fusion", "cached_speedup"), ("fusion", "target"), True),
    ("scoring functions/s", ("scoring", "functions_per_s"), ("scoring", "target"), True),
    ("serving p50 (ms)", ("serving", "p50_ms"), ("serving", "target_p50_ms"), False),
    ("devign pipeline wall (s)", ("pipeline", "devign_wall_s"), ("pipeline", "target_wall_s"),
     False),
    ("devign pipeline peak RSS (MB)", ("pipeline", "devign_peak_rss_mb"),
     ("pipeline", "target_peak_rss_mb"), False),
)


def render_md(res: dict[str, Any], source: str = "bench.json") -> str:
    meta = res.get("meta", {})
    out = ["# vulnfusion benchmarks", "",
           f"`{meta.get('command')}` — {meta.get('date')}, git `{meta.get('git_sha')}`, "
           f"Python {meta.get('python')}, torch {meta.get('torch')}, {meta.get('cpu_count')} CPUs "
           f"({meta.get('torch_threads')} torch threads; "
           f"setting: {meta.get('torch_threads_setting')}), "
           f"quick={_fmt(meta.get('quick'))}. The figures of `{source}`; "
           "see `benchmarks/run.py` for how each is measured.", "",
           "## Targets", "", "| metric | measured | target | meets |", "|---|---:|---:|:---:|"]
    for label, got, want, higher in TARGETS:
        m, t = _dig(res, got), _dig(res, want)
        ok = "—" if m is None or t is None else ("yes" if (m >= t if higher else m <= t) else "no")
        out.append(f"| {label} | {_fmt(m) if m is not None else 'n/a'} | "
                   f"{'≥' if higher else '≤'} {_fmt(t) if t is not None else 'n/a'} | {ok} |")
    for name in SECTIONS:
        if name not in res:
            continue
        out += ["", f"## {name}", ""]
        if name == "quality" and "error" not in res[name]:
            from quality import quality_md

            out += quality_md(res[name])[1:]
            continue
        out += ["| key | value |", "|---|---|"]
        out += [f"| `{name}.{k}` | {_fmt(v)} |" for k, v in flatten(res[name])]
    out += ["", "## Sections: wall time and load average", "",
            "| section | run at (UTC) | wall s | load before (1/5/15 min) | load after | quick |",
            "|---|---|---:|---|---|:---:|"]
    for name, s in meta.get("sections", {}).items():
        out.append(f"| {name} | {s.get('date')} | {_fmt(s.get('wall_s'))} | "
                   f"{_fmt(s.get('load_avg_before'))} | {_fmt(s.get('load_avg_after'))} | "
                   f"{_fmt(s.get('quick'))} |")
    return "\n".join(out) + "\n"


def write_outputs(path: Path, res: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, text in ((path, json.dumps(res, indent=2) + "\n"),
                         (path.with_suffix(".md"), render_md(res, path.name))):
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, target)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output", type=Path, default=ROOT / "reports" / "bench.json")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma list of sections (default: all): {','.join(SECTIONS)}")
    p.add_argument("--quick", action="store_true", help="smaller sizes: a smoke test")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs, outputs)")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="pin torch intra-op threads (OMP/MKL_NUM_THREADS in the stages, "
                        "torch.set_num_threads here); default: as shipped, torch decides")
    args = p.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not DEVIGN.exists():
        print(f"[bench] warning: {DEVIGN} not found; Devign sections will record errors")
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # in-process scoring: less noise
    tmp = Path(tempfile.mkdtemp(prefix="vulnfusion-bench-"))
    env = make_env(tmp, args.torch_threads)
    one = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    ctx = Ctx(tmp, QUICK if args.quick else FULL, env,
              env if args.torch_threads else {**env, **one})
    ctx.logs.mkdir()
    meta = run_meta(args.quick, args.torch_threads)
    results: dict[str, Any] = {}
    section_meta: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        for name in args.sections:
            results[name], section_meta[name] = run_section(ctx, name)
            section_meta[name]["git_sha"] = meta["git_sha"]
            section_meta[name]["torch_threads"] = meta["torch_threads_setting"]
            # write after every section: an interrupted run keeps what it measured
            write_outputs(args.output, merge_results(args.output, results, meta, section_meta))
    finally:
        if args.keep_tmp:
            print(f"[bench] temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"[bench] wrote {args.output} and {args.output.with_suffix('.md')} "
          f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
