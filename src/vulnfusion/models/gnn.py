"""The GNN branch: relational message passing over the typed code graph.

Why R-GCN: the four edge kinds (AST, next token, control flow, data flow) mean different
things, and a per-relation weight matrix lets each layer treat them differently at a cost
that stays low on CPU (no GRU per step as in GGNN). Every edge kind is also used in reverse
as its own relation (8 relations), so information flows both ways along each kind.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import RGCNConv, global_max_pool, global_mean_pool
from torch_geometric.nn.aggr import AttentionalAggregation

from vulnfusion.batching import Batch


class GNNClassifier(nn.Module):
    """Node embeddings → ``num_layers`` R-GCN blocks → graph pooling (B, D) → logit (B,)."""

    def __init__(
        self,
        num_types: int,
        num_tokens: int,
        num_edge_types: int,
        hidden_size: int,
        token_dim: int,
        num_layers: int,
        dropout: float,
        pooling: str,
    ) -> None:
        super().__init__()
        self.num_edge_types = num_edge_types
        self.type_emb = nn.Embedding(num_types, hidden_size, padding_idx=0)
        self.token_emb = nn.Embedding(num_tokens, token_dim, padding_idx=0)
        self.token_proj = nn.Linear(token_dim, hidden_size)
        self.convs = nn.ModuleList(
            RGCNConv(hidden_size, hidden_size, 2 * num_edge_types, aggr="mean")
            for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.pooling = pooling
        if pooling == "attention":
            self.pool = AttentionalAggregation(
                nn.Sequential(
                    nn.Linear(hidden_size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, 1)
                )
            )
        self.embed_dim = hidden_size if pooling == "attention" else 2 * hidden_size
        self.head = nn.Sequential(
            nn.Linear(self.embed_dim, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, 1),
        )

    def embed(self, batch: Batch) -> torch.Tensor:
        """The pooled graph embedding (B, D) that fusion consumes."""
        assert batch.node_type is not None and batch.node_token is not None
        assert batch.edge_index is not None and batch.edge_type is not None
        assert batch.graph_index is not None
        h = self.type_emb(batch.node_type) + self.token_proj(self.token_emb(batch.node_token))
        # (2, E) → (2, 2E): reverse edges get relation id + num_edge_types.
        edge_index = torch.cat([batch.edge_index, batch.edge_index.flip(0)], dim=1)
        edge_type = torch.cat([batch.edge_type, batch.edge_type + self.num_edge_types])
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = norm(h + self.dropout(torch.relu(conv(h, edge_index, edge_type))))
        size = batch.size
        if self.pooling == "attention":
            return self.pool(h, batch.graph_index, dim_size=size)
        return torch.cat(
            [
                global_mean_pool(h, batch.graph_index, size),
                global_max_pool(h, batch.graph_index, size),
            ],
            dim=-1,
        )

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.head(self.dropout(self.embed(batch))).squeeze(-1)
