"""Checkpoints: ``model.safetensors`` + ``checkpoint.json`` recording how the model was made.

The JSON holds the architecture spec (rebuilt exactly on load by
``vulnfusion.models.build``, never guessed from weight shapes), the resolved params, git
SHA and data hash. This module does file I/O only; nothing here unpickles anything.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from vulnfusion.errors import VulnfusionError
from vulnfusion.io import atomic_path, write_json

WEIGHTS = "model.safetensors"
META = "checkpoint.json"
FORMAT_VERSION = 1


class CheckpointError(VulnfusionError, ValueError):
    """A checkpoint that is missing, incomplete or inconsistent (one-line message)."""


def save_checkpoint(out_dir: Path, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write weights then metadata, each atomically (metadata last marks completion)."""
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


def read_weights(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The safetensors weights of a checkpoint, on ``device`` (no code runs on load)."""
    d = resolve_checkpoint_dir(path)
    return load_file(str(d / WEIGHTS), device=str(device))
