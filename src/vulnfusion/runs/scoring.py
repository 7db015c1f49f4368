"""Scoring a trained model on valid and test, from memory or from its checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vulnfusion.batching import BatchLayout
from vulnfusion.config import Config, TrainConfig, from_dict
from vulnfusion.features import Features
from vulnfusion.metrics import evaluation_report
from vulnfusion.models.build import load_model
from vulnfusion.paths import EVAL_SPLITS
from vulnfusion.runs.outputs import logits_by_id
from vulnfusion.training import eval_loader, predict


def train_config(cfg: Config, track: str) -> TrainConfig:
    """The training block of ``track`` (``transformer``, ``gnn`` or ``fusion``)."""
    by_track: dict[str, TrainConfig] = {
        "transformer": cfg.transformer.train,
        "gnn": cfg.gnn.train,
        "fusion": cfg.fusion.train,
    }
    return by_track[track]


def score_splits(
    model: nn.Module,
    layout: BatchLayout,
    feats: Features,
    tcfg: TrainConfig,
    device: torch.device,
    cached: dict[str, dict[str, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """Logits (N,) on valid and test, in row order (``cached``: precomputed branch features)."""
    out = {}
    for s in EVAL_SPLITS:
        loader = eval_loader(
            feats.splits[s],
            layout,
            tcfg.batch_size * 2,
            tcfg.pad_to_multiple_of,
            cached=(cached or {}).get(s),
        )
        # final logits in fp32 whatever the training AMP: they must match the served model
        out[s], _ = predict(model, loader, device, "none")
    return out


def evaluate_logits(feats: Features, logits: dict[str, np.ndarray]) -> dict[str, Any]:
    """The parity metrics (DESIGN §6) of valid/test logits against the features' labels."""
    y = {s: feats.splits[s].arrays["labels"] for s in EVAL_SPLITS}
    return evaluation_report(y["valid"], logits["valid"], y["test"], logits["test"])


def train_config_from_meta(meta: dict[str, Any], track: str) -> TrainConfig:
    """The training config recorded in a checkpoint (for its batch size and padding)."""
    section = meta["config"][track]["train"]
    return from_dict(TrainConfig, section, f"{track}.train.")


def recompute_logits(seed_dir: Path, feats: Features) -> dict[str, dict[str, float]]:
    """Valid/test logits recomputed on CPU from a seed's checkpoint (any track), keyed by id."""
    model, meta = load_model(seed_dir)
    kind = meta["model"]["kind"]
    pad_id = (meta["model"].get("transformer") or meta["model"]).get("pad_id", 1) or 1
    layout = BatchLayout.for_track(kind, pad_id)
    tcfg = train_config_from_meta(meta, kind)
    logits = score_splits(model, layout, feats, tcfg, torch.device("cpu"))
    return logits_by_id(feats, logits)
