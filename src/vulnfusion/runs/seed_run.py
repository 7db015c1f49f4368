"""The seed-run skeleton every track shares: fit, score, write atomically, log.

``train_seed`` is called by ``runs.branch.train_branch`` and ``runs.fusion.train_fusion``
once they have built the model (after ``training.seed_everything``): one MLflow run on
rank 0, the ``Trainer`` with its resume state, the best weights scored on valid and test,
and the outputs of ``runs.outputs`` plus the checkpoint and manifest.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from vulnfusion import tracking
from vulnfusion.batching import BatchLayout
from vulnfusion.checkpoints import save_checkpoint
from vulnfusion.config import Config, TrainConfig, to_dict
from vulnfusion.devices import is_main_process
from vulnfusion.features import Features
from vulnfusion.io import atomic_dir
from vulnfusion.paths import resume_path_for
from vulnfusion.runs.outputs import log_run_outputs, logits_by_id, write_manifest, write_run_outputs
from vulnfusion.runs.resume import resume_key
from vulnfusion.runs.scoring import evaluate_logits, score_splits
from vulnfusion.training import FitResult, PairObjective, Trainer


@dataclass
class SeedModel:
    """What a track hands to ``train_seed``: the fresh model and how to train it."""

    model: nn.Module
    arch: dict[str, Any]  # architecture spec recorded in the checkpoint
    layout: BatchLayout
    tcfg: TrainConfig
    resume_extra: list[str] = field(default_factory=list)  # more inputs that shape the run
    param_groups: list[dict[str, Any]] | None = None
    cached: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # frozen features
    pairs: PairObjective | None = None  # a pair-wise ranking loss beside the classification


@dataclass(frozen=True)
class FinishedFit:
    """What a seed run hands to ``finish_seed_run``."""

    fit: FitResult
    arch: dict[str, Any]  # architecture spec recorded in the checkpoint
    logits: dict[str, np.ndarray]  # valid/test logits in row order (fp32)
    tags: dict[str, str]


def maybe_run(cfg: Config, name: str, tags: dict[str, str]) -> Any:
    """An MLflow run on rank 0; a no-op context (yielding ``None``) on other ranks."""
    if not is_main_process():
        return contextlib.nullcontext(None)
    return tracking.start_run(cfg, name, tags)


def train_seed(
    cfg: Config,
    track: str,
    seed: int,
    feats: Features,
    out_dir: Path,
    sm: SeedModel,
    stage: str,
    degraded: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit ``sm.model`` for one seed and write the run; returns its ``metrics.json`` content
    (``{}`` on a non-zero ``torchrun`` rank, which writes nothing). ``extra`` keys go into
    both ``metrics.json`` and ``checkpoint.json``."""
    tags = tracking.run_tags(cfg, track, seed, stage, feats.data_hash, degraded)
    with maybe_run(cfg, f"{track}-seed{seed}", tags) as run:
        trainer = Trainer(
            sm.model,
            sm.layout,
            sm.tcfg,
            seed,
            feats.splits["train"],
            feats.splits["valid"],
            resume_path_for(out_dir),
            resume_key(cfg, track, seed, feats, extra=sm.resume_extra),
            epoch_logger=run.log_epoch if run else None,
            param_groups=sm.param_groups,
            cached=sm.cached,
            step_logger=run.log_epoch if run else None,
            pairs=sm.pairs,
        )
        fit = trainer.fit()
        if not trainer.dist.is_main:
            return {}
        sm.model.load_state_dict(fit.best_state)
        logits = score_splits(sm.model, sm.layout, feats, sm.tcfg, trainer.device, sm.cached)
        done = FinishedFit(fit, sm.arch, logits, tags)
        return finish_seed_run(cfg, track, seed, feats, out_dir, done, run, extra)


def finish_seed_run(
    cfg: Config,
    track: str,
    seed: int,
    feats: Features,
    out_dir: Path,
    done: FinishedFit,
    run: tracking.RunLogger | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a finished seed run's outputs atomically, its manifest, and log it to MLflow."""
    extra = extra or {}
    best_epoch = done.fit.best_epoch
    metrics = {
        **evaluate_logits(feats, done.logits),
        "track": track,
        "seed": seed,
        "best_epoch": best_epoch,
        "degraded": False,
        **extra,
    }
    meta = {
        "track": track,
        "seed": seed,
        "model": done.arch,
        "config": to_dict(cfg),
        "git_commit": done.tags["git_commit"],
        "data_hash": feats.data_hash,
        "features_hash": feats.features_hash,
        "best_epoch": best_epoch,
        **extra,
    }
    with atomic_dir(out_dir) as tmp:
        save_checkpoint(tmp, done.fit.best_state, meta)
        write_run_outputs(
            tmp, metrics, logits_by_id(feats, done.logits), done.fit.history, f"{track} seed {seed}"
        )
    resume_path_for(out_dir).unlink(missing_ok=True)
    write_manifest(out_dir, track, seed)
    if run:
        log_run_outputs(run, out_dir, metrics)
    return metrics
