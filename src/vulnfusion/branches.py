"""Per-seed training of one branch (``transformer`` or ``gnn``) and its output contract.

``outputs/<track>/seed_<k>/``: ``model.safetensors`` + ``checkpoint.json`` (best epoch),
``metrics.json`` (DESIGN §6 parity keys on valid + the ``test`` block), ``logits.json``
(valid and test logits keyed by example id), ``history.csv`` (one row per epoch, a DVC plot),
``threshold_sweep.csv`` and ``figures/`` (confusion matrices, threshold curve).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vulnfusion import tracking
from vulnfusion.checkpoints import save_checkpoint
from vulnfusion.config import Config, TrainConfig, from_dict, to_dict
from vulnfusion.features import Features, load_features
from vulnfusion.io import atomic_dir, sha256_file, write_json, write_text
from vulnfusion.metrics import parity_metrics
from vulnfusion.models.build import load_model
from vulnfusion.models.gnn import new_gnn
from vulnfusion.models.transformer import new_transformer
from vulnfusion.paths import manifest_path, resume_path_for
from vulnfusion.plots import plot_confusion_matrix, plot_threshold_curve
from vulnfusion.tokenization import load_tokenizer_dir
from vulnfusion.training import TrackSpec, Trainer, eval_loader, predict, seed_everything

log = logging.getLogger(__name__)


def track_spec(track: str, pad_id: int = 1) -> TrackSpec:
    return {
        "transformer": TrackSpec(tokens=True, graphs=False, pad_id=pad_id),
        "gnn": TrackSpec(tokens=False, graphs=True),
        "fusion": TrackSpec(tokens=True, graphs=True, pad_id=pad_id),
    }[track]


def build_branch(cfg: Config, track: str, feats: Features) -> tuple[nn.Module, dict[str, Any]]:
    """A fresh model for ``track`` and the architecture spec to record in its checkpoint."""
    if track == "transformer":
        return new_transformer(cfg.transformer, load_tokenizer_dir(feats.tokenizer_dir))
    vocab = feats.graph_vocab
    return new_gnn(cfg.gnn, vocab.num_types, vocab.num_tokens)


def train_config(cfg: Config, track: str) -> TrainConfig:
    return {"transformer": cfg.transformer.train, "gnn": cfg.gnn.train, "fusion": cfg.fusion.train}[
        track
    ]


def resume_key(
    cfg: Config, track: str, seed: int, feats: Features, extra: list[str] | None = None
) -> str:
    """Fingerprint of everything that shapes a run: resume only into an identical run."""
    blob = json.dumps(
        {
            "cfg": to_dict(cfg),
            "track": track,
            "seed": seed,
            "features": feats.features_hash,
            "extra": extra or [],
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def score_splits(
    model: nn.Module,
    spec: TrackSpec,
    feats: Features,
    tcfg: TrainConfig,
    device: torch.device,
    cached: dict[str, dict[str, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """Logits on valid and test, in row order (``cached``: precomputed branch features)."""
    out = {}
    for s in ("valid", "test"):
        loader = eval_loader(
            feats.splits[s],
            spec,
            tcfg.batch_size * 2,
            tcfg.pad_to_multiple_of,
            cached=(cached or {}).get(s),
        )
        # final logits in fp32 whatever the training AMP: they must match the served model
        out[s], _ = predict(model, loader, device, "none")
    return out


def evaluate_logits(feats: Features, logits: dict[str, np.ndarray]) -> dict[str, Any]:
    y = {s: feats.splits[s].arrays["labels"] for s in ("valid", "test")}
    return parity_metrics(y["valid"], logits["valid"], y["test"], logits["test"])


def logits_by_id(feats: Features, logits: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    return {
        s: dict(zip(feats.splits[s].ids, map(float, logits[s]), strict=True))
        for s in ("valid", "test")
    }


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    if not history:
        return
    keys = list(history[0])
    lines = [",".join(k.replace("/", "_") for k in keys)]
    lines += [",".join(f"{row[k]:.6g}" for k in keys) for row in history]
    write_text(path, "\n".join(lines) + "\n")


def write_sweep(path: Path, sweep: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(sweep[0]))
        w.writeheader()
        w.writerows(sweep)


def write_figures(fig_dir: Path, metrics: dict[str, Any], title: str) -> None:
    fig_dir.mkdir(parents=True, exist_ok=True)
    thr = metrics["best_threshold_by_f1"]
    plot_confusion_matrix(
        metrics["confusion_matrix_at_0_5"],
        f"{title} valid @0.50",
        fig_dir / "confusion_matrix_at_0_5.png",
    )
    plot_confusion_matrix(
        metrics["confusion_matrix_at_best_threshold"],
        f"{title} valid @{thr:.2f}",
        fig_dir / "confusion_matrix_at_best_threshold.png",
    )
    plot_threshold_curve(metrics["threshold_sweep"], thr, fig_dir / "threshold_curve.png", title)


def write_run_outputs(
    out: Path,
    metrics: dict[str, Any],
    logits: dict[str, dict[str, float]],
    history: list[dict[str, float]],
    title: str,
) -> None:
    """The per-run files every track writes (into a directory being built atomically)."""
    write_json(out / "metrics.json", metrics)
    write_json(out / "logits.json", logits)
    write_history(out / "history.csv", history)
    write_sweep(out / "threshold_sweep.csv", metrics["threshold_sweep"])
    write_figures(out / "figures", metrics, title)


def train_branch(
    cfg: Config, track: str, seed: int, features_dir: str | Path, out_dir: str | Path, stage: str
) -> dict[str, Any]:
    """Train one branch for one seed end to end; returns its ``metrics.json`` content."""
    out_dir = Path(out_dir)
    feats = load_features(features_dir)
    tcfg = train_config(cfg, track)
    seed_everything(seed)
    model, arch = build_branch(cfg, track, feats)
    spec = track_spec(track, arch.get("pad_id", 1))
    tags = tracking.run_tags(cfg, track, seed, stage, feats.data_hash)
    with maybe_run(cfg, f"{track}-seed{seed}", tags) as run:
        trainer = Trainer(
            model,
            spec,
            tcfg,
            seed,
            feats.splits["train"],
            feats.splits["valid"],
            resume_path_for(out_dir),
            resume_key(cfg, track, seed, feats),
            epoch_logger=run.log_epoch if run else None,
        )
        fit = trainer.fit()
        if not trainer.dist.is_main:
            return {}
        model.load_state_dict(fit.best_state)
        logits = score_splits(model, spec, feats, tcfg, trainer.device)
        return finish_seed_run(
            cfg, track, seed, feats, Path(out_dir), FinishedFit(fit, arch, logits, tags), run
        )


@dataclass(frozen=True)
class FinishedFit:
    """What a seed run hands to ``finish_seed_run``."""

    fit: Any  # training.FitResult
    arch: dict[str, Any]  # architecture spec recorded in the checkpoint
    logits: dict[str, np.ndarray]  # valid/test logits in row order (fp32)
    tags: dict[str, str]


def finish_seed_run(
    cfg: Config,
    track: str,
    seed: int,
    feats: Features,
    out_dir: Path,
    done: FinishedFit,
    run: Any,
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


def write_manifest(out_dir: Path, track: str, seed: int) -> Path:
    """A receipt of a finished seed run (content hash of each file in its directory).

    Downstream stages depend on ``outputs/<track>/manifests``: one DVC dependency that covers
    whatever seeds params.yaml lists, without overlapping ``ensemble_metrics.json``.
    """
    files = {
        p.relative_to(out_dir).as_posix(): sha256_file(p)
        for p in sorted(out_dir.rglob("*"))
        if p.is_file()
    }
    return write_json(
        manifest_path(out_dir), {"track": track, "seed": seed, "dir": str(out_dir), "files": files}
    )


def log_run_outputs(run: Any, out_dir: Path, metrics: dict[str, Any]) -> None:
    run.log_parity(metrics)
    run.log_sweep(metrics["threshold_sweep"])
    for name in ("metrics.json", "history.csv", "threshold_sweep.csv", "checkpoint.json"):
        if (out_dir / name).exists():
            run.log_artifacts(out_dir / name)
    run.log_artifacts(out_dir / "figures", "figures")


def maybe_run(cfg: Config, name: str, tags: dict[str, str]) -> Any:
    """An MLflow run on rank 0; a no-op context on other ranks."""
    if int(os.environ.get("RANK", "0")) != 0:
        return contextlib.nullcontext(None)
    return tracking.start_run(cfg, name, tags)


def recompute_logits(
    seed_dir: Path, feats: Features, batch_size: int = 64
) -> dict[str, dict[str, float]]:
    """Valid/test logits recomputed from a seed's checkpoint (any track), keyed by id."""
    model, meta = load_model(seed_dir)
    kind = meta["model"]["kind"]
    pad_id = (meta["model"].get("transformer") or meta["model"]).get("pad_id", 1) or 1
    spec = track_spec(kind, pad_id)
    tcfg = train_config_from_meta(meta, kind)
    logits = score_splits(model, spec, feats, tcfg, torch.device("cpu"))
    return logits_by_id(feats, logits)


def train_config_from_meta(meta: dict[str, Any], track: str) -> TrainConfig:
    """The training config recorded in a checkpoint (for its batch size and padding)."""
    section = meta["config"][track]["train"]
    return from_dict(TrainConfig, section, f"{track}.train.")
