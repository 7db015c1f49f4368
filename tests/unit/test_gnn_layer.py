"""Our R-GCN layer computes exactly what PyG's RGCNConv(aggr="mean") computes."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import RGCNConv

from vulnfusion.models.gnn import RelationalConv, RelationIndex


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


def test_inference_path_equals_the_training_path() -> None:
    """Under no_grad the layer writes the per-relation products in place: same numbers."""
    g = torch.Generator().manual_seed(3)
    n, e, r, h = 50, 400, 8, 16
    x = torch.randn(n, h, generator=g)
    idx = RelationIndex(torch.randint(0, n, (2, e), generator=g),
                        torch.randint(0, r - 2, (e,), generator=g), n, r)
    conv = RelationalConv(h, r)
    with_grad = conv(x, idx)
    with torch.inference_mode():
        fast = conv(x, idx)
    torch.testing.assert_close(fast, with_grad.detach(), rtol=0, atol=0)
