"""Late fusion: concat(Transformer CLS (B, Dt), GNN pooled (B, Dg)) → MLP head → logit (B,).

Either branch may be absent (graceful degrade: the head reads the other alone). Frozen
branches stay in eval mode even while the head trains (no dropout noise in their features),
and their features may come precomputed in the batch (``t_emb``/``g_emb``) instead.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vulnfusion.batching import Batch
from vulnfusion.config import FusionConfig
from vulnfusion.models.gnn import GNNClassifier
from vulnfusion.models.transformer import TransformerClassifier


class FusionClassifier(nn.Module):
    """concat(branch embeddings) → MLP head → logit (B,); ``from_spec`` rebuilds it."""

    def __init__(
        self,
        transformer: nn.Module | None,
        gnn: nn.Module | None,
        t_dim: int,
        g_dim: int,
        hidden_size: int,
        dropout: float,
        freeze_transformer: bool = True,
        freeze_gnn: bool = True,
    ) -> None:
        super().__init__()
        if transformer is None and gnn is None:
            raise ValueError("fusion needs at least one branch")
        self.transformer, self.gnn = transformer, gnn
        self.t_dim = t_dim if transformer is not None else 0
        self.g_dim = g_dim if gnn is not None else 0
        self.frozen = {"transformer": freeze_transformer, "gnn": freeze_gnn}
        for name, branch in (("transformer", transformer), ("gnn", gnn)):
            if branch is not None and self.frozen[name]:
                branch.requires_grad_(False)
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(self.t_dim + self.g_dim, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, 1),
        )
        self.embed_dim = self.t_dim + self.g_dim

    def train(self, mode: bool = True) -> FusionClassifier:
        super().train(mode)
        for name in ("transformer", "gnn"):
            branch = getattr(self, name)
            if branch is not None and self.frozen[name]:
                branch.eval()  # frozen features must not change with dropout
        return self

    def _branch(self, name: str, batch: Batch, cached: torch.Tensor | None) -> torch.Tensor:
        if cached is not None:
            return cached.float()
        branch = getattr(self, name)
        if self.frozen[name]:
            with torch.no_grad():
                return branch.embed(batch).float()
        return branch.embed(batch).float()

    def embed(self, batch: Batch) -> torch.Tensor:
        parts = []
        if self.transformer is not None:
            parts.append(self._branch("transformer", batch, batch.t_emb))
        if self.gnn is not None:
            parts.append(self._branch("gnn", batch, batch.g_emb))
        return torch.cat(parts, dim=-1)

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.head(self.embed(batch)).squeeze(-1)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> FusionClassifier:
        """Rebuild an untrained fusion model (both encoders included) from its recorded spec."""
        t_spec, g_spec = spec.get("transformer"), spec.get("gnn")
        t = TransformerClassifier.from_spec(t_spec) if t_spec else None
        g = GNNClassifier.from_spec(g_spec) if g_spec else None
        return cls(
            t,
            g,
            spec["t_dim"],
            spec["g_dim"],
            spec["hidden_size"],
            spec["dropout"],
            spec["freeze_transformer"],
            spec["freeze_gnn"],
        )


def embed_dim(model: nn.Module) -> int:
    """Width of a branch's ``embed`` output (every branch model declares ``embed_dim``)."""
    return int(getattr(model, "embed_dim"))  # noqa: B009 - attribute set by our models


def new_fusion(
    cfg: FusionConfig,
    transformer: tuple[nn.Module, dict[str, Any]] | None,
    gnn: tuple[nn.Module, dict[str, Any]] | None,
) -> tuple[FusionClassifier, dict[str, Any]]:
    """A fresh fusion model over loaded branches (each a ``(model, spec)`` pair or ``None``),
    and the architecture spec to record (the branches' specs included)."""
    model = FusionClassifier(
        transformer[0] if transformer else None,
        gnn[0] if gnn else None,
        embed_dim(transformer[0]) if transformer else 0,
        embed_dim(gnn[0]) if gnn else 0,
        cfg.hidden_size,
        cfg.dropout,
        cfg.freeze_transformer,
        cfg.freeze_gnn,
    )
    spec = {
        "kind": "fusion",
        "transformer": transformer[1] if transformer else None,
        "gnn": gnn[1] if gnn else None,
        "t_dim": model.t_dim,
        "g_dim": model.g_dim,
        "hidden_size": cfg.hidden_size,
        "dropout": cfg.dropout,
        "freeze_transformer": cfg.freeze_transformer,
        "freeze_gnn": cfg.freeze_gnn,
    }
    return model, spec
