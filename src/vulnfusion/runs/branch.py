"""One seed of a branch track (``transformer`` or ``gnn``), end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from vulnfusion.batching import BatchLayout
from vulnfusion.config import Config
from vulnfusion.features import Features, load_features
from vulnfusion.models.gnn import new_gnn
from vulnfusion.models.transformer import new_transformer
from vulnfusion.runs.scoring import train_config
from vulnfusion.runs.seed_run import SeedModel, train_seed
from vulnfusion.tokenization import load_tokenizer_dir
from vulnfusion.training import seed_everything


def build_branch(cfg: Config, track: str, feats: Features) -> tuple[nn.Module, dict[str, Any]]:
    """A fresh model for ``track`` and the architecture spec to record in its checkpoint."""
    if track == "transformer":
        return new_transformer(cfg.transformer, load_tokenizer_dir(feats.tokenizer_dir))
    vocab = feats.graph_vocab
    return new_gnn(cfg.gnn, vocab.num_types, vocab.num_tokens)


def train_branch(
    cfg: Config, track: str, seed: int, features_dir: str | Path, out_dir: str | Path, stage: str
) -> dict[str, Any]:
    """Train one branch for one seed end to end; returns its ``metrics.json`` content."""
    feats = load_features(features_dir)
    seed_everything(seed)  # before the model is built: its initial weights are seeded too
    model, arch = build_branch(cfg, track, feats)
    layout = BatchLayout.for_track(track, arch.get("pad_id", 1))
    sm = SeedModel(model, arch, layout, train_config(cfg, track))
    return train_seed(cfg, track, seed, feats, Path(out_dir), sm, stage)
