"""Whole functions for a fixed-width encoder: overlapping token windows, pooled back into one.

A function of ``n`` tokens (``<s> c_1 … c_m </s>``, ``m = n - 2``) longer than the encoder's
``max_length`` is read as windows of ``max_length`` tokens: each is ``<s>``, ``max_length - 2``
consecutive content tokens, ``</s>``. Window ``k`` starts at content token ``k * stride``;
the last one is moved back to end at the function's last token, so every window is full
and the tail is read with as much context as the others (the sliding-window scheme of
long-document BERT readers, e.g. Hugging Face question answering's ``stride``). At most
``max_windows`` windows are read; ``max_windows = 1`` is the head-only reading.

The encoder embeds every window of a batch in one pass (a ``(W, max_length)`` batch); the
windows' first-token embeddings are pooled per function by ``max`` or ``mean``
(element-wise over the ``W_i`` windows of function ``i``) into the ``(B, H)`` embedding the
head reads. A function that fits one window is encoded exactly as without windowing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

Pooling = Literal["max", "mean"]


@dataclass(frozen=True)
class WindowSpec:
    """How a model reads long functions (recorded in the transformer's checkpoint spec)."""

    max_length: int  # tokens per window, special tokens included
    max_windows: int = 1
    stride: int = 192
    pooling: Pooling = "max"

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> WindowSpec:
        """From a transformer spec: its ``max_length`` and ``windows`` (absent in checkpoints
        written before windows existed: the head only)."""
        w = spec.get("windows") or {}
        return cls(
            max_length=int(spec["max_length"]),
            max_windows=int(w.get("max_windows", 1)),
            stride=int(w.get("stride", 192)),
            pooling=w.get("pooling", "max"),
        )


def window_starts(content: int, span: int, stride: int, max_windows: int) -> list[int]:
    """Start offsets (in content tokens) of the windows over ``content`` tokens, each
    ``span`` tokens wide: ``0, stride, 2*stride, …`` with the last moved back to
    ``content - span``; at most ``max_windows`` (then the tail beyond is not read).

    >>> window_starts(500, 254, 192, 4)
    [0, 192, 246]
    >>> window_starts(200, 254, 192, 4)
    [0]
    """
    if content <= span:
        return [0]
    starts = list(range(0, content - span, stride))
    if len(starts) >= max_windows:
        return starts[:max_windows]
    return [*starts, content - span]


@dataclass
class Windows:
    """The windows of one batch.

    ``input_ids``/``attention_mask``: ``(W, L)``; ``owner``: ``(W,)`` the batch row each window
    belongs to (rows' windows are consecutive, in row order); ``positions``: ``(W, L)`` the
    column of the batch's ``input_ids`` each window token was taken from (``-1`` for padding).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    owner: torch.Tensor
    positions: torch.Tensor
    rows: int

    def pool(self, emb: torch.Tensor, pooling: Pooling) -> torch.Tensor:
        """``(W, H)`` window embeddings → ``(rows, H)``: element-wise max or mean per row."""
        index = self.owner[:, None].expand(-1, emb.shape[1])
        out = emb.new_zeros((self.rows, emb.shape[1]))
        if pooling == "max":
            return out.scatter_reduce(0, index, emb, reduce="amax", include_self=False)
        return out.scatter_reduce(0, index, emb, reduce="mean", include_self=False)

    def gather(self, per_window: torch.Tensor, width: int) -> torch.Tensor:
        """``(W, L)`` values per window token → ``(rows, width)`` summed per original token
        (a token read by two overlapping windows gets both)."""
        out = per_window.new_zeros((self.rows, width))
        keep = self.positions >= 0
        flat = self.owner[:, None].expand_as(self.positions)[keep] * width + self.positions[keep]
        return out.view(-1).index_add(0, flat, per_window[keep]).view(self.rows, width)


def split_windows(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, spec: WindowSpec, pad_id: int
) -> Windows:
    """Cut each row of a ``(B, T)`` batch into the windows :func:`window_starts` gives.

    Rows are ``<s> content </s>`` followed by padding (``attention_mask`` 0), as the
    featurize stage packs them. Returns :class:`Windows` with ``L = min(T, max_length)``.
    """
    lengths = attention_mask.sum(dim=1).tolist()
    width = min(int(input_ids.shape[1]), spec.max_length)
    span = spec.max_length - 2
    cols: list[list[int]] = []
    owner: list[int] = []
    for row, n in enumerate(lengths):
        n = int(n)
        if n <= spec.max_length:
            cols.append(list(range(n)) + [-1] * (width - n))
            owner.append(row)
            continue
        for s in window_starts(n - 2, span, spec.stride, spec.max_windows):
            cols.append([0, *range(1 + s, 1 + s + span), n - 1])
            owner.append(row)
    positions = torch.tensor(cols, dtype=torch.long, device=input_ids.device)
    owner_t = torch.tensor(owner, dtype=torch.long, device=input_ids.device)
    keep = positions >= 0
    ids = input_ids[owner_t[:, None].expand_as(positions), positions.clamp(min=0)]
    ids = torch.where(keep, ids, torch.full_like(ids, pad_id))
    return Windows(ids, keep.to(attention_mask.dtype), owner_t, positions, len(lengths))
