"""Our R-GCN layer computes exactly what PyG's RGCNConv(aggr="mean") computes, and the
deduplicated inference layouts compute what the per-edge (training) layout computes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch_geometric.nn import RGCNConv

from vulnfusion.batching import Batch, Collator
from vulnfusion.featurize import pack_graphs
from vulnfusion.graphs import GraphVocab, build_graph
from vulnfusion.models.gnn import GNNClassifier, RelationalConv, RelationIndex


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pyg_rgcn_mean(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    n, e, r, h = 60, 300, 8, 16
    x = torch.randn(n, h, generator=g)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    edge_type = torch.randint(0, r - 1, (e,), generator=g)  # relation r-1 unused: empty group
    ours = RelationalConv(h, r)
    ref = RGCNConv(h, h, r, aggr="mean")
    with torch.no_grad():
        ref.weight.copy_(ours.weight)
        ref.root.copy_(ours.root.weight.T)
        ref.bias.copy_(ours.root.bias)
    got = ours(x, RelationIndex(edge_index, edge_type, n, r))
    torch.testing.assert_close(got, ref(x, edge_index, edge_type), rtol=1e-5, atol=1e-5)


def test_gradients_flow_to_every_used_relation() -> None:
    conv = RelationalConv(8, 3)
    x = torch.randn(10, 8)
    ei = torch.tensor([[0, 1, 2], [3, 4, 5]])
    conv(x, RelationIndex(ei, torch.tensor([0, 2, 2]), 10, 3)).sum().backward()
    assert conv.weight.grad is not None
    assert conv.weight.grad[0].abs().sum() > 0 and conv.weight.grad[2].abs().sum() > 0
    assert conv.weight.grad[1].abs().sum() == 0


def _shared_endpoint_graph(seed: int, n: int = 50, e: int = 400, r: int = 8) -> RelationIndex:
    """Random edges over few nodes: most relations share sources and targets, so the
    deduplicated inference path takes both of its sides."""
    g = torch.Generator().manual_seed(seed)
    return RelationIndex(
        torch.randint(0, n, (2, e), generator=g), torch.randint(0, r - 2, (e,), generator=g), n, r
    )


def test_inference_path_equals_the_training_path() -> None:
    """Under no_grad the layer computes one product per distinct node (DedupPlan): the same
    numbers up to float summation order."""
    idx = _shared_endpoint_graph(3)
    plan = idx.plan
    assert plan.src_sizes and plan.dst_sizes  # both sides exercised
    x = torch.randn(50, 16, generator=torch.Generator().manual_seed(4))
    conv = RelationalConv(16, 8)
    with_grad = conv(x, idx)
    with torch.inference_mode():
        fast = conv(x, idx)
    torch.testing.assert_close(fast, with_grad.detach(), rtol=1e-5, atol=1e-6)


def test_dedup_plan_takes_the_smaller_side_per_relation() -> None:
    # relation 0: one parent → 3 children (1 distinct source); relation 1: 3 children → one
    # parent (1 distinct target); relation 2: a chain (no sharing: source side)
    ei = torch.tensor([[0, 0, 0, 1, 2, 3, 4, 5], [1, 2, 3, 0, 0, 0, 5, 6]])
    idx = RelationIndex(ei, torch.tensor([0, 0, 0, 1, 1, 1, 2, 2]), 7, 4)
    plan = idx.plan
    assert plan.src_sizes == [(0, 1), (2, 2)] and plan.dst_sizes == [(1, 1)]
    x = torch.randn(7, 4)
    conv = RelationalConv(4, 4)
    with torch.inference_mode():
        fast = conv(x, idx)
    torch.testing.assert_close(fast, conv(x, idx).detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_inference_path_matches_pyg(seed: int) -> None:
    idx = _shared_endpoint_graph(seed, n=40, e=500)
    x = torch.randn(40, 16, generator=torch.Generator().manual_seed(seed))
    ours, ref = RelationalConv(16, 8), RGCNConv(16, 16, 8, aggr="mean")
    with torch.no_grad():
        ref.weight.copy_(ours.weight)
        ref.root.copy_(ours.root.weight.T)
        ref.bias.copy_(ours.root.bias)
        edge_index = torch.stack([idx.src, idx.dst])
        edge_type = torch.repeat_interleave(torch.arange(8), torch.tensor(idx.sizes))
        torch.testing.assert_close(
            ours(x, idx), ref(x, edge_index, edge_type), rtol=1e-5, atol=1e-5
        )


FUNCS = [
    "int add(int a, int b) { int s = a + b; if (s < 0) return -s; return s; }",
    "void copy(char *d, const char *s, int n) { for (int i = 0; i < n; i++) d[i] = s[i]; }",
    "static int f(struct ctx *c) { if (!c || !c->buf) return -1; c->len = 0; return c->len; }",
    "int empty(void) { }",
]


def _real_batch() -> tuple[GraphVocab, Batch]:
    graphs = [build_graph(f) for f in FUNCS]
    vocab = GraphVocab.build(graphs, min_token_freq=1)
    arrays = pack_graphs(graphs, vocab)
    arrays["labels"] = np.zeros(len(FUNCS), dtype=np.int64)
    feats = SimpleNamespace(arrays=arrays)
    return vocab, Collator(feats, tokens=False, graphs=True)(list(range(len(FUNCS))))  # type: ignore[arg-type]


@pytest.mark.parametrize("pooling", ["attention", "meanmax"])
def test_inference_layouts_equal_the_per_edge_model_on_real_graphs(pooling: str) -> None:
    """The whole GNN (first layer by (type, token) pair, the rest by distinct node) against
    the per-edge computation training uses, on tree-sitter graphs of real C."""
    vocab, batch = _real_batch()
    torch.manual_seed(0)
    model = GNNClassifier(vocab.num_types, vocab.num_tokens, 4, 16, 8, 3, 0.2, pooling).eval()
    ref = model.embed(batch)  # autograd on: the per-edge path
    with torch.inference_mode():
        fast = model.embed(batch)
        plan = batch.memo[f"pair_plan:4:{vocab.num_tokens}"]
    assert plan.types.numel() < batch.node_type.numel()  # pairs repeat: the layout dedups
    torch.testing.assert_close(fast, ref.detach(), rtol=1e-5, atol=1e-5)


def test_inference_layouts_on_a_batch_without_edges() -> None:
    none = torch.zeros(0, dtype=torch.long)
    batch = Batch(
        index=torch.arange(2),
        labels=torch.zeros(2),
        node_type=torch.tensor([3, 3, 5]),
        node_token=torch.tensor([0, 0, 2]),
        edge_index=none.view(2, 0),
        edge_type=none,
        graph_index=torch.tensor([0, 0, 1]),
    )
    model = GNNClassifier(8, 4, 4, 16, 8, 2, 0.0, "attention").eval()
    ref = model.embed(batch)
    with torch.inference_mode():
        torch.testing.assert_close(model.embed(batch), ref.detach(), rtol=1e-5, atol=1e-5)


def test_a_bfloat16_model_scores_through_the_per_edge_layout() -> None:
    """The sparse layouts are float32 only; a model cast to bf16 takes the per-edge one."""
    vocab, batch = _real_batch()
    model = GNNClassifier(vocab.num_types, vocab.num_tokens, 4, 16, 8, 2, 0.0, "attention").eval()
    with torch.inference_mode():
        ref = model.embed(batch)
        half = model.to(torch.bfloat16).embed(batch)
    assert f"pair_plan:4:{vocab.num_tokens}" in batch.memo  # the float32 call took the pair path
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), ref, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_graph_pooling_equals_pyg_to_the_last_bit(seed: int) -> None:
    """Our readouts replace PyG's global_mean_pool / global_max_pool / AttentionalAggregation
    (whose import costs every process ~2 s): same values and gradients, exactly; graph 5 of
    the 6 has no nodes (zeros, as PyG gives)."""
    from torch_geometric.nn import global_max_pool, global_mean_pool
    from torch_geometric.nn.aggr import AttentionalAggregation

    from vulnfusion.models.gnn import AttentionPooling, graph_max, graph_mean

    g = torch.Generator().manual_seed(seed)
    index = torch.sort(torch.randint(0, 5, (40,), generator=g)).values  # graphs 0..4 (+ empty 5)
    x = torch.randn(40, 16, generator=g, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    assert torch.equal(graph_mean(x, index, 6), global_mean_pool(x_ref, index, 6))
    assert torch.equal(graph_max(x, index, 6), global_max_pool(x_ref, index, 6))
    assert graph_max(x, index, 6)[5].abs().sum() == 0

    gate = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    ours, ref = AttentionPooling(gate), AttentionalAggregation(gate)
    assert list(ours.state_dict()) == list(ref.state_dict())  # checkpoints keep their keys
    got, want = ours(x, index, dim_size=6), ref(x_ref, index, dim_size=6)
    assert torch.equal(got, want)
    got.square().sum().backward()
    want.square().sum().backward()
    assert x.grad is not None and x_ref.grad is not None
    assert torch.equal(x.grad, x_ref.grad)


def test_the_model_stack_does_not_import_torch_geometric() -> None:
    """Every stage, `vulnfusion scan` and the served model import the GNN; PyG stays a
    test-only reference (a fresh interpreter, so this suite's own imports do not count)."""
    import subprocess
    import sys

    code = "import sys, vulnfusion.models.gnn; print('torch_geometric' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
