"""The CUDA path: AMP (fp16 with a grad scaler, bf16) for both branches and fusion.

Skipped without a CUDA device; run on an accelerator with `pytest -m gpu`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vulnfusion.config import load_config
from vulnfusion.features import load_features
from vulnfusion.runs.branch import train_branch
from vulnfusion.runs.scoring import recompute_logits

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
    feats = tiny_workspace / "data/features"
    m = train_branch(cfg, track, 0, feats, tmp_path / "o", "gpu")
    assert (m["valid"]["n"], m["test"]["n"]) == (16, 16)
    written = json.loads((tmp_path / "o/logits.json").read_text())
    # the fp32 logits scored on the GPU are the saved checkpoint's, rescored here on the CPU
    # (finite too: an fp16 overflow would have left NaN in the weights or the logits)
    rescored = recompute_logits(tmp_path / "o", load_features(feats))
    for split in ("valid", "test"):
        assert rescored[split] == pytest.approx(written[split], rel=1e-3, abs=1e-3)


def test_cuda_fusion_bf16(trained_workspace: Path, tmp_path: Path) -> None:
    from vulnfusion.runs.fusion import train_fusion

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
