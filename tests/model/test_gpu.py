"""The CUDA path: AMP (fp16 with a grad scaler, bf16) for both branches and fusion.

Skipped without a CUDA device; run on an accelerator with `pytest -m gpu`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vulnfusion.branches import train_branch
from vulnfusion.config import load_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.usefixtures("mlflow_env"),
]


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
@pytest.mark.parametrize("track", ["transformer", "gnn"])
def test_cuda_amp_training(tiny_workspace: Path, tmp_path: Path, track: str, amp: str) -> None:
    cfg = load_config(
        tiny_workspace / "params.yaml",
        [
            f"{track}.train.device=cuda",
            f"{track}.train.amp_dtype={amp}",
            f"{track}.train.num_workers=2",
        ],
    )
    m = train_branch(cfg, track, 0, tiny_workspace / "data/features", tmp_path / "o", "gpu")
    assert 0.0 <= m["f1_at_best_threshold"] <= 1.0
    logits = json.loads((tmp_path / "o/logits.json").read_text())["test"]
    assert all(v == v for v in logits.values())  # no NaN from fp16 overflow


def test_cuda_fusion_bf16(trained_workspace: Path, tmp_path: Path) -> None:
    from vulnfusion.fusion import train_fusion

    cfg = load_config(
        trained_workspace / "params.yaml", ["fusion.preset=fusion_gpu", "fusion.train.device=cuda"]
    )
    ws = trained_workspace
    m = train_fusion(
        cfg,
        0,
        ws / "data/features",
        tmp_path / "f",
        ws / "outputs/transformer/seed_0",
        ws / "outputs/gnn/seed_0",
        tmp_path / "cache",
        "gpu",
    )
    assert m["degraded"] is False
