"""Checkpoints: ``model.safetensors`` + ``checkpoint.json`` recording how the model was made.

The JSON holds the architecture spec (rebuilt exactly on load, never guessed from weight
shapes), the resolved params, git SHA and data hash. Nothing here unpickles anything.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vulnfusion.io import atomic_path, write_json

WEIGHTS = "model.safetensors"
META = "checkpoint.json"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, incomplete or inconsistent (one-line message)."""


def save_checkpoint(out_dir: Path, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write weights then metadata, each atomically (metadata last marks completion)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    with atomic_path(out_dir / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    full = {
        "format_version": FORMAT_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(),
        **meta,
    }
    write_json(out_dir / META, full)


def resolve_checkpoint_dir(path: str | Path) -> Path:
    """Accept a seed output directory or the checkpoint file inside it."""
    p = Path(path)
    if p.is_file() and p.name in (WEIGHTS, META):
        p = p.parent
    if not (p / META).exists() or not (p / WEIGHTS).exists():
        raise CheckpointError(f"{path}: no checkpoint ({WEIGHTS} + {META}) found there")
    return p


def read_meta(path: str | Path) -> dict[str, Any]:
    d = resolve_checkpoint_dir(path)
    try:
        meta: dict[str, Any] = json.loads((d / META).read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{d / META}: invalid JSON ({exc.msg})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{d / META}: unsupported checkpoint format {meta.get('format_version')}"
        )
    return meta


def build_model(spec: dict[str, Any]) -> nn.Module:
    """An untrained model from a recorded architecture spec."""
    kind = spec.get("kind")
    if kind == "transformer":
        from vulnfusion.models.transformer import TransformerClassifier, encoder_from_spec

        enc = encoder_from_spec(spec["hf_config"])
        return TransformerClassifier(
            enc, int(spec["hf_config"]["hidden_size"]), spec["head_dropout"]
        )
    if kind == "gnn":
        from vulnfusion.models.gnn import GNNClassifier

        return GNNClassifier(**spec["args"])
    if kind == "fusion":
        from vulnfusion.models.fusion import build_fusion_from_spec

        return build_fusion_from_spec(spec)
    raise CheckpointError(f"unknown model kind {kind!r} in checkpoint spec")


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from its recorded spec and load its safetensors weights."""
    from safetensors.torch import load_file

    d = resolve_checkpoint_dir(path)
    meta = read_meta(d)
    model = build_model(meta["model"])
    state = load_file(str(d / WEIGHTS), device=str(device))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{d}: weights do not match the recorded architecture "
            f"(missing {len(missing)}, unexpected {len(unexpected)}: {(missing + unexpected)[:3]})"
        )
    return model.to(device).eval(), meta
