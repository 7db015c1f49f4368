"""Datasets, length-bucketed batch sampling and collation over the featurize arrays.

Batches are built straight from the flat arrays written by ``featurize`` (no per-example
Python objects): a token batch pads to the longest sequence in the batch, rounded up to
``pad_to_multiple_of``; a graph batch concatenates graphs and offsets their node indices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from vulnfusion.features import SplitFeatures


@dataclass(frozen=True)
class BatchLayout:
    """What a track's batches contain, and which length drives bucketing.

    ``tokens``: token ids + mask (padded with ``pad_id``); ``graphs``: the code graphs;
    ``lengths``: ``"tokens"`` or ``"nodes"`` (default: tokens when the batch has tokens).
    """

    tokens: bool
    graphs: bool
    pad_id: int = 1
    lengths: str = ""

    @property
    def length_kind(self) -> str:
        return self.lengths or ("tokens" if self.tokens else "nodes")

    @classmethod
    def for_track(cls, track: str, pad_id: int = 1) -> BatchLayout:
        """The layout a track's model reads: ``transformer``, ``gnn`` or ``fusion``."""
        return {
            "transformer": cls(tokens=True, graphs=False, pad_id=pad_id),
            "gnn": cls(tokens=False, graphs=True),
            "fusion": cls(tokens=True, graphs=True, pad_id=pad_id),
        }[track]


@dataclass
class Batch:
    """One mini-batch for any track; fields a track does not use stay ``None``.

    Shapes: ``input_ids``/``attention_mask`` (B, T); ``node_type``/``node_token`` (N,);
    ``edge_index`` (2, E); ``edge_type`` (E,); ``graph_index`` (N,) → graph of each node;
    ``labels`` (B,) float; ``index`` (B,) row numbers into the split.
    """

    index: torch.Tensor
    labels: torch.Tensor
    input_ids: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    node_type: torch.Tensor | None = None
    node_token: torch.Tensor | None = None
    edge_index: torch.Tensor | None = None
    edge_type: torch.Tensor | None = None
    graph_index: torch.Tensor | None = None
    t_emb: torch.Tensor | None = None  # (B, Dt) cached Transformer CLS features (fusion)
    g_emb: torch.Tensor | None = None  # (B, Dg) cached GNN pooled features (fusion)
    # per-batch derived structures shared by every model that reads this batch (e.g. the
    # GNN's relation index when several seeds score the same batch); not moved by ``to``
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def size(self) -> int:
        return int(self.index.numel())

    def to(self, device: torch.device | str) -> Batch:
        return self._apply(lambda t: t.to(device, non_blocking=True))

    def pin_memory(self) -> Batch:
        return self._apply(lambda t: t.pin_memory())

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                out[f.name] = fn(value)
        return Batch(**out)


class FeatureDataset(Dataset[int]):
    """Indexes one split; items are row numbers, the collator slices the flat arrays."""

    def __init__(self, feats: SplitFeatures) -> None:
        self.feats = feats

    def __len__(self) -> int:
        return len(self.feats)

    def __getitem__(self, i: int) -> int:
        return i

    def lengths(self, kind: str) -> np.ndarray:
        """Per-example cost used for bucketing: tokens or graph nodes."""
        ptr = self.feats.arrays["tok_ptr" if kind == "tokens" else "node_ptr"]
        return np.diff(ptr)


class Collator:
    """Builds a ``Batch`` from row numbers; picklable, so DataLoader workers can run it."""

    def __init__(
        self,
        feats: SplitFeatures,
        tokens: bool,
        graphs: bool,
        pad_id: int = 1,
        pad_to_multiple_of: int = 1,
        cached: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.a = feats.arrays
        self.tokens, self.graphs = tokens, graphs
        self.pad_id, self.multiple = pad_id, max(1, pad_to_multiple_of)
        self.cached = cached or {}

    def __call__(self, rows: Sequence[int]) -> Batch:
        idx = np.asarray(rows, dtype=np.int64)
        b = Batch(
            index=torch.from_numpy(idx),
            labels=torch.from_numpy(self.a["labels"][idx].astype(np.float32)),
        )
        for name, arr in self.cached.items():  # "t_emb" / "g_emb": rows of precomputed features
            setattr(b, name, torch.from_numpy(arr[idx]))
        if self.tokens:
            b.input_ids, b.attention_mask = self._tokens(idx)
        if self.graphs:
            self._graphs(idx, b)
        return b

    def _tokens(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        ptr, ids = self.a["tok_ptr"], self.a["tok_ids"]
        lens = ptr[idx + 1] - ptr[idx]
        width = int(math.ceil(max(int(lens.max()), 1) / self.multiple) * self.multiple)
        out = np.full((len(idx), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for r, (i, n) in enumerate(zip(idx, lens, strict=True)):
            out[r, :n] = ids[ptr[i] : ptr[i] + n]
            mask[r, :n] = 1
        return torch.from_numpy(out), torch.from_numpy(mask)

    def _graphs(self, idx: np.ndarray, b: Batch) -> None:
        a = self.a
        types, toks, src, dst, ety, gidx = [], [], [], [], [], []
        offset = 0
        for g, i in enumerate(idx):
            n0, n1 = a["node_ptr"][i], a["node_ptr"][i + 1]
            e0, e1 = a["edge_ptr"][i], a["edge_ptr"][i + 1]
            types.append(a["node_type"][n0:n1])
            toks.append(a["node_token"][n0:n1])
            src.append(a["edge_src"][e0:e1].astype(np.int64) + offset)
            dst.append(a["edge_dst"][e0:e1].astype(np.int64) + offset)
            ety.append(a["edge_type"][e0:e1])
            gidx.append(np.full(n1 - n0, g, dtype=np.int64))
            offset += int(n1 - n0)
        b.node_type = torch.from_numpy(np.concatenate(types).astype(np.int64))
        b.node_token = torch.from_numpy(np.concatenate(toks).astype(np.int64))
        b.edge_index = torch.from_numpy(np.stack([np.concatenate(src), np.concatenate(dst)]))
        b.edge_type = torch.from_numpy(np.concatenate(ety).astype(np.int64))
        b.graph_index = torch.from_numpy(np.concatenate(gidx))


class BucketBatchSampler(Sampler[list[int]]):
    """Shuffled batches of similar length (little padding), deterministic per (seed, epoch).

    Examples are shuffled, cut into pools of ``pool_batches`` batches, each pool sorted by
    length and cut into batches, then the batches are shuffled. Under DDP each rank takes
    every ``world``-th batch of the same global order (equal batch counts on every rank).
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        shuffle: bool,
        seed: int,
        bucket: bool = True,
        rank: int = 0,
        world: int = 1,
        pool_batches: int = 50,
    ) -> None:
        self.lengths, self.batch_size = lengths, batch_size
        self.shuffle, self.seed, self.bucket = shuffle, seed, bucket
        self.rank, self.world, self.pool = rank, world, pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _global_batches(self) -> list[list[int]]:
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.bucket:
            pool = self.batch_size * self.pool
            chunks = [order[i : i + pool] for i in range(0, n, pool)]
            # stable sort keeps the shuffled order among equal lengths
            order = np.concatenate([c[np.argsort(self.lengths[c], kind="stable")] for c in chunks])
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.shuffle:
            batches = [batches[j] for j in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._global_batches()
        if self.world > 1:
            usable = len(batches) - len(batches) % self.world or len(batches)
            batches = batches[:usable][self.rank :: self.world]
        return iter(batches)

    def __len__(self) -> int:
        n = math.ceil(len(self.lengths) / self.batch_size)
        return n // self.world if self.world > 1 and n >= self.world else n


def padding_overhead(lengths: np.ndarray, batches: Sequence[Sequence[int]], multiple: int) -> float:
    """Padded tokens / real tokens for a given batching (1.0 = no padding)."""
    real = padded = 0
    for b in batches:
        lens = lengths[np.asarray(b)]
        width = math.ceil(int(lens.max()) / multiple) * multiple
        real += int(lens.sum())
        padded += width * len(b)
    return padded / max(real, 1)
