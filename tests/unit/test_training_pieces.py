"""Pure pieces of the training loop: schedules, EMA, losses, padding, bucketing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from vulnfusion.batching import BucketBatchSampler, padding_overhead
from vulnfusion.config import TrainConfig
from vulnfusion.training import EMA, loss_fn, lr_factor


@pytest.mark.parametrize("kind", ["linear", "cosine", "constant"])
def test_schedule_warmup_then_decay(kind: str) -> None:
    # 10 warmup steps rise linearly to 1 ((s + 1) / 10); the decay then runs over progress
    # p = (s - 10) / 90: linear 1 - p, cosine (1 + cos πp) / 2, constant 1.
    total, warmup = 100, 10
    decay = {
        "linear": lambda p: 1 - p,
        "cosine": lambda p: 0.5 * (1 + math.cos(math.pi * p)),
        "constant": lambda p: 1.0,
    }[kind]
    expected = [(s + 1) / 10 for s in range(10)] + [decay((s - 10) / 90) for s in range(10, 100)]
    assert [lr_factor(s, total, warmup, kind) for s in range(total)] == pytest.approx(expected)


def test_cosine_and_linear_mid_way() -> None:
    assert lr_factor(55, 100, 10, "linear") == pytest.approx(0.5)
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)  # (1 + cos π/2) / 2
    assert lr_factor(30, 100, 10, "linear") == pytest.approx(7 / 9)  # 1 - 20/90
    assert lr_factor(30, 100, 10, "cosine") == pytest.approx(0.5 * (1 + math.cos(2 * math.pi / 9)))


def test_ema_tracks_average() -> None:
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # 0.5*0 + 0.5*1
    assert torch.allclose(ema.shadow["weight"], torch.full((1, 2), 0.5))
    with ema.applied(model):
        assert torch.allclose(model.weight, torch.full((1, 2), 0.5))
    assert torch.allclose(model.weight, torch.ones(1, 2))  # restored


def test_focal_loss_downweights_easy_examples() -> None:
    labels = torch.tensor([1.0, 1.0])
    ce_cfg, focal_cfg = TrainConfig(loss="ce"), TrainConfig(loss="focal", focal_gamma=2.0)
    easy, hard = torch.tensor([4.0, 4.0]), torch.tensor([-1.0, -1.0])
    ratio_easy = loss_fn(easy, labels, focal_cfg, 1.0) / loss_fn(easy, labels, ce_cfg, 1.0)
    ratio_hard = loss_fn(hard, labels, focal_cfg, 1.0) / loss_fn(hard, labels, ce_cfg, 1.0)
    assert ratio_easy < 0.01 < ratio_hard
    # gamma 0 and alpha 0.5 reduce focal loss to plain cross-entropy
    plain = TrainConfig(loss="focal", focal_gamma=0.0, focal_alpha=0.5)
    assert loss_fn(hard, labels, plain, 1.0) == pytest.approx(
        float(loss_fn(hard, labels, ce_cfg, 1.0))
    )


def test_pos_weight_matches_torch() -> None:
    logits, labels = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([1.0, 0.0, 1.0])
    ours = loss_fn(logits, labels, TrainConfig(), 3.0)
    w = torch.tensor([3.0, 1.0, 3.0])
    ref = (
        w * nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    ).sum() / w.sum()
    assert float(ours) == pytest.approx(float(ref))


def test_collator_pads_to_multiple(tiny_workspace) -> None:
    from vulnfusion.batching import Collator
    from vulnfusion.features import load_split

    feats = load_split(tiny_workspace / "data/features/train.safetensors")
    lens = np.diff(feats.arrays["tok_ptr"])
    for multiple in (1, 8, 64):
        b = Collator(feats, tokens=True, graphs=True, pad_to_multiple_of=multiple)([0, 1, 2])
        assert b.input_ids.shape[1] % multiple == 0
        assert b.input_ids.shape[1] - int(lens[:3].max()) < multiple
        assert b.attention_mask.sum(1).tolist() == lens[:3].tolist()
        assert int(b.graph_index.max()) == 2 and b.edge_index.max() < b.node_type.numel()


def test_bucketing_cuts_padding_and_covers_every_example() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 512, size=2000)
    bucketed = list(BucketBatchSampler(lengths, 32, shuffle=True, seed=0, bucket=True))
    plain = list(BucketBatchSampler(lengths, 32, shuffle=True, seed=0, bucket=False))
    assert sorted(i for b in bucketed for i in b) == list(range(2000))
    assert padding_overhead(lengths, bucketed, 8) <= 1.15 < padding_overhead(lengths, plain, 8)


def test_sampler_deterministic_per_epoch_and_sharded() -> None:
    # Distinct lengths in one pool (8 × 50 ≥ 100): sorting the pool by length undoes the
    # shuffle, so the batches are the consecutive blocks 0-7, 8-15, …, 96-99, and the epoch
    # decides only their order: the second permutation drawn from default_rng([seed, epoch]).
    def expected(epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([3, epoch])
        rng.permutation(100)  # the example shuffle, undone by the length sort
        blocks = [list(range(i, min(i + 8, 100))) for i in range(0, 100, 8)]
        return [blocks[j] for j in rng.permutation(13)]

    lengths = np.arange(100)
    s = BucketBatchSampler(lengths, 8, shuffle=True, seed=3)
    for epoch in (1, 2, 1):
        s.set_epoch(epoch)
        assert list(s) == expected(epoch)
    # Two ranks: the 13 global batches cut to 12, rank r takes every second from r.
    shards = [list(BucketBatchSampler(lengths, 8, True, 3, rank=r, world=2)) for r in (0, 1)]
    assert shards == [expected(0)[:12][0::2], expected(0)[:12][1::2]]
