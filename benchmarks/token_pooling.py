"""Issue 17's token-pooling experiment: one Transformer seed whose window embedding is the
masked mean of the last layer's token states instead of the first token's state.

    cd WORKSPACE && python /path/to/benchmarks/token_pooling.py --seed 0 \\
        --features-dir data/features --output-dir OUT

WORKSPACE is a ``dvc repro`` of the ``devign`` preset (its ``params.yaml`` and
``data/features``); the arguments are those of ``pipelines/train_transformer.py``, whose
stage this runs unchanged except for the pooling, so ``OUT/metrics.json`` and
``OUT/logits.json`` compare directly with the workspace's ``outputs/transformer/seed_<k>/``.
Point ``MLFLOW_TRACKING_URI`` elsewhere to keep the run out of the workspace's store.

Measured (stratified split, seed 0, README "Whole functions, data flow and normalised
names"): first token valid ROC-AUC 0.712, test 0.718; token mean 0.706, 0.721. The choice
reads valid only, so the first token stays (and keeps the eval path that computes the last
layer for one query, ``models.transformer.first_token_output``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vulnfusion.cli import run_stage
from vulnfusion.cli.train import branch_stage_main
from vulnfusion.models import transformer


def mean_token_embed(
    self: transformer.TransformerClassifier,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    full: bool = False,
) -> torch.Tensor:
    """``TransformerClassifier.embed_tokens`` with each window read as the mean of its
    non-padding token states (B, H), pooled over windows as the model's spec says."""
    windows = self.split(input_ids, attention_mask)
    if windows is not None:
        input_ids, attention_mask = windows.input_ids, windows.attention_mask
    hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    emb = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
    if windows is None:
        return emb
    assert self.windows is not None
    return windows.pool(emb, self.windows.pooling)


def main(argv: Sequence[str] | None = None) -> None:
    transformer.TransformerClassifier.embed_tokens = mean_token_embed  # type: ignore[method-assign]
    branch_stage_main("transformer", __doc__ or "", argv)


if __name__ == "__main__":
    run_stage(main)
