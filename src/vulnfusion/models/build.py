"""Models rebuilt from a recorded architecture spec, and checkpoints loaded into them.

Each model class knows its own spec (``from_spec``); this module only dispatches on the
spec's ``kind``. ``vulnfusion.checkpoints`` reads and writes the files; nothing here
guesses an architecture from weight shapes, and nothing unpickles anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from vulnfusion.checkpoints import CheckpointError, read_meta, read_weights, resolve_checkpoint_dir
from vulnfusion.models.fusion import FusionClassifier
from vulnfusion.models.gnn import GNNClassifier
from vulnfusion.models.transformer import TransformerClassifier

MODEL_KINDS: dict[str, Any] = {
    "transformer": TransformerClassifier,
    "gnn": GNNClassifier,
    "fusion": FusionClassifier,
}


def build_model(spec: dict[str, Any]) -> nn.Module:
    """An untrained model from a recorded architecture spec.

    Raises ``CheckpointError`` for an unknown ``kind``.
    """
    cls = MODEL_KINDS.get(str(spec.get("kind")))
    if cls is None:
        raise CheckpointError(f"unknown model kind {spec.get('kind')!r} in checkpoint spec")
    model: nn.Module = cls.from_spec(spec)
    return model


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint (a seed directory or a file in it) from its recorded
    spec, load its safetensors weights, and return ``(model in eval mode, metadata)``.

    Raises ``CheckpointError`` when the weights do not match the recorded architecture.
    """
    d = resolve_checkpoint_dir(path)
    meta = read_meta(d)
    model = build_model(meta["model"])
    state = read_weights(d, device)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{d}: weights do not match the recorded architecture "
            f"(missing {len(missing)}, unexpected {len(unexpected)}: {(missing + unexpected)[:3]})"
        )
    return model.to(device).eval(), meta
