"""The GNN branch: relational message passing over the typed code graph.

Why R-GCN: the four edge kinds (AST, next token, control flow, data flow) mean different
things, and a per-relation weight matrix lets each layer treat them differently at a cost
that stays low on CPU (no GRU per step as in GGNN). Every edge kind is also used in reverse
as its own relation (8 relations), so information flows both ways along each kind.

The layer is R-GCN with mean aggregation per relation (Schlichtkrull et al., 2018),
``h'_i = W_0 h_i + b + sum_r mean_{j in N_r(i)} W_r h_j``, written around one edge sort per
batch, one small matmul per relation and a single ``index_add_``. PyG's ``RGCNConv`` computes
the same thing but, without pyg-lib, scatters over (E, H) index tensors once per relation,
which made it 5-10x slower on CPU.

CPU inference (no autograd) computes the same function in fewer products: the first layer
once per distinct (node type, token) pair (``PairPlan``), the others once per distinct source
or target of each relation (``DedupPlan``), with sparse products in place of per-edge gathers.
Training keeps the per-edge layout above.

Graph pooling (mean ⊕ max, or soft attention) is written here with the same torch scatter
calls as PyG's ``global_mean_pool`` / ``global_max_pool`` / ``AttentionalAggregation`` (equal
to the last bit, tested against them): importing ``torch_geometric`` costs ~2 s per process
(it loads its datasets, LLM helpers and ``torch._dynamo``), paid by every stage and scan.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from vulnfusion.batching import Batch
from vulnfusion.config import GNNConfig
from vulnfusion.graphs import EDGE_TYPES

# The inference layouts only build CSR matrices and multiply them (tested in
# tests/unit/test_gnn_layer.py); torch warns once per process that CSR support is "beta".
# A filter, not catch_warnings(): the scorer builds these in worker threads.
warnings.filterwarnings(
    "ignore", message="Sparse CSR tensor support is in beta state", category=UserWarning
)


class RelationIndex:
    """Edges grouped by relation once per batch, shared by every layer.

    ``src``/``dst`` (E,) sorted by relation, ``sizes`` edges per relation, ``norm`` (E, 1) the
    1 / in-degree of each edge's (target, relation) pair: the per-relation mean.
    ``plan`` (built on first use, inference only) is the deduplicated layout below.
    """

    def __init__(
        self, edge_index: torch.Tensor, edge_type: torch.Tensor, num_nodes: int, num_relations: int
    ) -> None:
        order = torch.argsort(edge_type, stable=True)
        self.src, self.dst = edge_index[0, order], edge_index[1, order]
        rel = edge_type[order]
        self.sizes = torch.bincount(rel, minlength=num_relations).tolist()
        key = self.dst * num_relations + rel
        deg = torch.zeros(num_nodes * num_relations, device=key.device)
        deg.index_add_(0, key, torch.ones_like(key, dtype=deg.dtype))
        self.norm = deg.index_select(0, key).reciprocal().unsqueeze(-1)
        self.num_nodes = num_nodes
        self._plan: DedupPlan | None = None

    @property
    def plan(self) -> DedupPlan:
        if self._plan is None:
            self._plan = DedupPlan(self)
        return self._plan

    def blocks(self) -> Iterator[tuple[int, slice]]:
        """(relation, its slice of the sorted edges) for every relation with edges."""
        start = 0
        for r, n in enumerate(self.sizes):
            if n:
                yield r, slice(start, start + n)
            start += n


class _Stack:
    """Per-relation blocks of distinct rows stacked into one matrix: each block's distinct
    rows, the edges it covers, and each of those edges' row in the stack."""

    def __init__(self, idx: RelationIndex) -> None:
        self.sizes: list[tuple[int, int]] = []  # (relation, distinct rows)
        self._rows: list[torch.Tensor] = []
        self._edges: list[torch.Tensor] = []
        self._cols: list[torch.Tensor] = []
        self._empty = idx.src[:0]

    def add(self, r: int, edges: slice, distinct: torch.Tensor, inverse: torch.Tensor) -> None:
        self._cols.append(inverse + self.n)
        self.sizes.append((r, distinct.numel()))
        self._rows.append(distinct)
        self._edges.append(torch.arange(edges.start, edges.stop, device=distinct.device))

    @property
    def n(self) -> int:
        return sum(n for _, n in self.sizes)

    def cat(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(distinct rows, edges, each edge's row), concatenated over the blocks."""
        if not self.sizes:
            return self._empty, self._empty, self._empty
        return torch.cat(self._rows), torch.cat(self._edges), torch.cat(self._cols)


class DedupPlan:
    """Each relation's product ``W_r h`` computed once per distinct node, not once per edge.

    A message depends only on (source, relation), and a mean only on (target, relation). So a
    relation whose edges share sources (an AST parent and its children, a definition and its
    uses) transforms each distinct source once and spreads the products along its edges
    ("source" side); one whose edges share targets (a child → its parent) averages the
    neighbours' states per target first and transforms each average once ("target" side).
    Each relation takes the side with fewer distinct nodes: on Devign that is 61% of the
    per-edge products. The spreading and the averaging are sparse matrix products (CSR, no
    (E, H) intermediate). Exact up to float summation order.
    """

    def __init__(self, idx: RelationIndex) -> None:
        src, dst = _Stack(idx), _Stack(idx)
        for r, edges in idx.blocks():
            us, inv_s = torch.unique(idx.src[edges], return_inverse=True)
            ud, inv_d = torch.unique(idx.dst[edges], return_inverse=True)
            if us.numel() <= ud.numel():
                src.add(r, edges, us, inv_s)
            else:
                dst.add(r, edges, ud, inv_d)
        self.src_sizes, self.dst_sizes = src.sizes, dst.sizes
        # source side: out += S @ products, S[target, product row] = 1 / in-degree
        self.src_rows, e, col = src.cat()
        self.spread = _csr(idx.dst[e], col, idx.norm[e, 0], (idx.num_nodes, src.n))
        # target side: averages = A @ h, A[average row, source] = 1 / in-degree
        self.dst_rows, e, row = dst.cat()
        self.average = _csr(row, idx.src[e], idx.norm[e, 0], (dst.n, idx.num_nodes))


def _csr(
    rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """A CSR matrix; repeated (row, col) pairs (parallel edges) are summed."""
    coo = torch.sparse_coo_tensor(
        torch.stack([rows, cols]), values, size, check_invariants=False
    ).coalesce()
    return coo.to_sparse_csr()


class PairPlan:
    """The first layer by distinct (node type, node token) pair instead of by node.

    A node's input state depends only on its pair, and a batch of Devign functions has about
    15x fewer distinct pairs than nodes (statements and expressions carry no token; `int`,
    `;`, `->` repeat). So the input embedding, the first layer's root product and its
    relation products run once per pair (per (pair, relation) for the products), and sparse
    products spread them to the nodes and edges. Exact up to float summation order.
    """

    def __init__(
        self,
        idx: RelationIndex,
        node_type: torch.Tensor,
        node_token: torch.Tensor,
        num_tokens: int,
    ) -> None:
        key = node_type.long() * num_tokens + node_token.long()
        pairs, self.inverse = torch.unique(key, return_inverse=True)  # node → its pair
        self.types, self.tokens = pairs // num_tokens, pairs % num_tokens
        stack = _Stack(idx)  # per relation: the distinct pairs among its edges' sources
        for r, edges in idx.blocks():
            stack.add(r, edges, *torch.unique(self.inverse[idx.src[edges]], return_inverse=True))
        self.sizes = stack.sizes
        self.rows, e, col = stack.cat()
        self.spread = _csr(idx.dst[e], col, idx.norm[e, 0], (idx.num_nodes, stack.n))


def _dedup_ok(ref: torch.Tensor, x: torch.Tensor | None = None) -> bool:
    """The deduplicated inference layouts apply: CPU, no autograd, no autocast, float32
    weights and inputs (the sparse products' values are float32)."""
    return (
        ref.device.type == "cpu"
        and ref.dtype == torch.float32
        and not torch.is_grad_enabled()
        and not torch.is_autocast_enabled("cpu")
        and (x is None or x.dtype == ref.dtype)
    )


class RelationalConv(nn.Module):
    """One R-GCN layer (mean per relation + root weight), see the module docstring."""

    def __init__(self, dim: int, num_relations: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_relations, dim, dim))
        self.root = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.weight)

    def forward(self, h: torch.Tensor, idx: RelationIndex) -> torch.Tensor:
        if _dedup_ok(self.weight, h):  # CPU inference: one product per distinct node
            return self._dedup_forward(h, idx.plan)
        # (E, H): each edge's source state, grouped by relation, times that relation's W_r
        chunks = h.index_select(0, idx.src).split(idx.sizes)
        msg = torch.cat([c @ self.weight[r] for r, c in enumerate(chunks)])
        msg = msg * idx.norm.to(msg.dtype)
        out = self.root(h)
        return out.index_add(0, idx.dst, msg.to(out.dtype))

    def _dedup_forward(self, h: torch.Tensor, plan: DedupPlan) -> torch.Tensor:
        out = self.root(h)
        if plan.src_sizes:
            rows = h.index_select(0, plan.src_rows)
            out.addmm_(plan.spread, self._per_relation(rows, plan.src_sizes))
        if plan.dst_sizes:
            averages = torch.sparse.mm(plan.average, h)
            out.index_add_(0, plan.dst_rows, self._per_relation(averages, plan.dst_sizes))
        return out

    def forward_pairs(self, x: torch.Tensor, plan: PairPlan) -> torch.Tensor:
        """The layer on the nodes whose input states are ``x[plan.inverse]`` (x: one row per
        distinct pair), computed once per pair (PairPlan)."""
        out = self.root(x).index_select(0, plan.inverse)
        if plan.sizes:
            rows = x.index_select(0, plan.rows)
            out.addmm_(plan.spread, self._per_relation(rows, plan.sizes))
        return out

    def _per_relation(self, x: torch.Tensor, sizes: list[tuple[int, int]]) -> torch.Tensor:
        """Row block k of ``x`` times the weight of relation ``sizes[k][0]``, in place."""
        out = torch.empty_like(x)
        start = 0
        for r, n in sizes:
            torch.mm(x[start : start + n], self.weight[r], out=out[start : start + n])
            start += n
        return out


def _rows(index: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return index.view(-1, 1).expand_as(x)


def graph_sum(x: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Per-graph sum of node rows: x (N, D), index (N,) graph ids in [0, size) → (size, D)."""
    return x.new_zeros((size, x.size(1))).scatter_add_(0, _rows(index, x), x)


def graph_mean(x: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Per-graph mean of node rows (size, D); a graph without nodes gives zeros."""
    count = x.new_zeros(size).scatter_add_(0, index, x.new_ones(x.size(0))).clamp(min=1)
    return graph_sum(x, index, size) / count.view(-1, 1)


def graph_max(x: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Per-graph channel-wise max of node rows (size, D); a graph without nodes gives zeros."""
    out = x.new_zeros((size, x.size(1)))
    return out.scatter_reduce_(0, _rows(index, x), x, reduce="amax", include_self=False)


class AttentionPooling(nn.Module):
    """Soft-attention readout (Li et al., 2016, "Gated Graph Sequence Neural Networks", eq. 7):
    ``r_g = sum_{n in g} softmax_g(gate(x_n)) * x_n``, x (N, D) → (size, D).

    The parameters sit under ``gate_nn`` as in PyG's ``AttentionalAggregation(gate_nn)``, so
    checkpoints keep their keys.
    """

    def __init__(self, gate_nn: nn.Module) -> None:
        super().__init__()
        self.gate_nn = gate_nn

    def forward(self, x: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
        gate = self.gate_nn(x)  # (N, 1)
        top = graph_max(gate.detach(), index, dim_size).index_select(0, index)
        weight = (gate - top).exp()
        total = graph_sum(weight, index, dim_size) + 1e-16
        return graph_sum(weight / total.index_select(0, index) * x, index, dim_size)


class GNNClassifier(nn.Module):
    """Node embeddings → ``num_layers`` R-GCN blocks → graph pooling (B, D) → logit (B,).

    Its architecture spec (``gnn_spec``) is what a checkpoint records; ``from_spec``
    rebuilds the untrained model from it exactly.
    """

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> GNNClassifier:
        """An untrained model from a recorded ``gnn_spec`` (weights load after)."""
        return cls(**spec["args"])

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
            RelationalConv(hidden_size, 2 * num_edge_types) for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.pooling = pooling
        if pooling == "attention":
            self.pool = AttentionPooling(
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

    def relation_index(self, batch: Batch, num_nodes: int) -> RelationIndex:
        """The batch's edges grouped by relation, built once per batch (``batch.memo``):
        seed models scoring the same batch share it."""
        key = f"relation_index:{self.num_edge_types}"
        idx = batch.memo.get(key)
        if idx is None:
            assert batch.edge_index is not None and batch.edge_type is not None
            # (2, E) → (2, 2E): reverse edges get relation id + num_edge_types.
            edge_index = torch.cat([batch.edge_index, batch.edge_index.flip(0)], dim=1)
            edge_type = torch.cat([batch.edge_type, batch.edge_type + self.num_edge_types])
            idx = RelationIndex(edge_index, edge_type, num_nodes, 2 * self.num_edge_types)
            batch.memo[key] = idx
        return idx

    def pair_plan(self, batch: Batch, idx: RelationIndex) -> PairPlan:
        """The batch's first-layer pair layout, built once per batch and vocabulary size."""
        assert batch.node_type is not None and batch.node_token is not None
        num_tokens = self.token_emb.num_embeddings
        key = f"pair_plan:{self.num_edge_types}:{num_tokens}"
        plan = batch.memo.get(key)
        if plan is None:
            plan = PairPlan(idx, batch.node_type, batch.node_token, num_tokens)
            batch.memo[key] = plan
        return plan

    def embed(self, batch: Batch) -> torch.Tensor:
        """The pooled graph embedding (B, D) that fusion consumes."""
        assert batch.node_type is not None and batch.node_token is not None
        assert batch.edge_index is not None and batch.edge_type is not None
        assert batch.graph_index is not None
        idx = self.relation_index(batch, batch.node_type.numel())
        layers = list(zip(self.convs, self.norms, strict=True))
        if _dedup_ok(self.token_proj.weight) and layers:  # inference: first layer by pair
            first = self.pair_plan(batch, idx)
            x = self.type_emb(first.types) + self.token_proj(self.token_emb(first.tokens))
            conv, norm = layers.pop(0)
            assert isinstance(conv, RelationalConv)
            h = x.index_select(0, first.inverse)
            h = norm(h + self.dropout(torch.relu(conv.forward_pairs(x, first))))
        else:
            h = self.type_emb(batch.node_type) + self.token_proj(self.token_emb(batch.node_token))
        for conv, norm in layers:
            h = norm(h + self.dropout(torch.relu(conv(h, idx))))
        size = batch.size
        if self.pooling == "attention":
            return self.pool(h, batch.graph_index, dim_size=size)
        return torch.cat(
            [
                graph_mean(h, batch.graph_index, size),
                graph_max(h, batch.graph_index, size),
            ],
            dim=-1,
        )

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.head(self.dropout(self.embed(batch))).squeeze(-1)


def gnn_spec(cfg: GNNConfig, num_types: int, num_tokens: int) -> dict[str, Any]:
    """The architecture spec a GNN checkpoint records (``from_spec`` reads it).

    ``num_types`` / ``num_tokens``: the sizes of the graph vocabulary built by featurize.
    """
    args = {
        "num_types": num_types,
        "num_tokens": num_tokens,
        "num_edge_types": len(EDGE_TYPES),
        "hidden_size": cfg.hidden_size,
        "token_dim": cfg.token_dim,
        "num_layers": cfg.num_layers,
        "dropout": cfg.dropout,
        "pooling": cfg.pooling,
    }
    return {"kind": "gnn", "args": args}


def new_gnn(
    cfg: GNNConfig, num_types: int, num_tokens: int
) -> tuple[GNNClassifier, dict[str, Any]]:
    """A fresh model for training and its architecture spec."""
    spec = gnn_spec(cfg, num_types, num_tokens)
    return GNNClassifier.from_spec(spec), spec
