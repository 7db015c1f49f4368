"""Per-line scores from the fusion seed ensemble: how much each line pushes the logit up.

Four methods, all averaged over the seeds (the served model's ensemble); the served model and
``scan`` use :data:`DEFAULT_METHOD` (occlusion):

* ``occlusion`` — blank one candidate line at a time (its text removed, the newline kept so
  every other line keeps its number) and re-score the function through the whole model,
  graph branch and Transformer branch alike: a line's score is how far the ensemble's mean
  logit moves without it, ``|logit(text) − logit(text without the line)|`` (Zeiler &
  Fergus, 2014, applied to lines); ``occlusion_signed`` keeps the sign (positive: the line
  pushes towards "vulnerable"). Costs one scoring per candidate line. On the demo the
  magnitude ranked flawed lines better than the signed drop, which also counts the lines
  whose removal makes the function look *more* vulnerable (a guard next to the flaw) as
  unimportant. The default.
* ``gradient_x_input`` — the gradient of the fusion logit with respect to the Transformer's
  token embeddings times those embeddings (input × gradient: Shrikumar et al., 2016;
  Captum's ``LayerGradientXActivation``), the graph branch's embedding held fixed, summed
  per line and ranked by the magnitude. One forward and one backward pass per seed, so it
  costs a few scorings whatever the function's length (occlusion costs one per line); it
  sees only the Transformer branch's view, as integrated gradients does: a line past the
  tokens the model reads (``max_length``, or with ``transformer.windows`` every window's
  tokens, overlaps summed) gets no attribution. Measured (README): on the default demo model
  it ranked flawed lines better than occlusion (Top-1 0.26 against 0.18, mean IFA 3.68
  against 3.95) and costs ~5x less CPU on kernel functions (21 candidate lines on average);
  but a model whose window ends before the flaw cannot rank it (the 64-token test model sees
  the flawed lines of 4 demo functions in 100), so occlusion, which also reads the graph,
  stays the default until the graph branch's nodes get attributions too.
* ``integrated_gradients`` — integrated gradients (Sundararajan et al., 2017; Captum's
  ``LayerIntegratedGradients``) of the fusion logit with respect to the Transformer's token
  embeddings, from a baseline whose every non-special token is the pad token, the graph
  branch's embedding held fixed; token attributions are summed per line and the line
  ranked by the magnitude. It sees only the Transformer branch's view of the function (the
  graph branch has no token positions), needs ``captum``, and costs ~5x occlusion.

The scorer is duck-typed (``serving.EnsembleScorer``: ``models``, ``tokenizer``, ``prepare``,
``encode``, ``features``, ``logits``), so this module does not import the serving layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from vulnfusion.batching import Batch, BatchLayout
from vulnfusion.localization.lines import (
    MAX_OCCLUSION_LINES,
    candidate_lines,
    occlusion_cost,
    rank,
    spans_to_lines,
)
from vulnfusion.training import eval_loader

# "occlusion": |logit drop| (how much the score depends on the line, either way);
# "occlusion_signed": the drop itself (positive: the line pushes towards "vulnerable")
METHODS = ("occlusion", "occlusion_signed", "gradient_x_input", "integrated_gradients")
DEFAULT_METHOD = "occlusion"
IG_STEPS = 16  # integration steps; attributions moved < 1% of their spread beyond 16 (demo)
# What localising one function costs, in scorings of it (the served model's per-request budget
# counts these): input x gradient is one forward and one backward pass per seed, measured at
# ~3.2 scorings on kernel functions (37 ms against 11.7 ms of CPU); integrated gradients runs
# IG_STEPS such passes.
GXI_COST = 4


def localization_cost(text: str, method: str = DEFAULT_METHOD) -> int:
    """Scorings of ``text`` that ``method`` spends to rank its lines; 0 when it ranks none
    (no candidate line, or occlusion over
    :data:`~vulnfusion.localization.lines.MAX_OCCLUSION_LINES` of them).

    Raises:
        ValueError: an unknown method.
    """
    if method in ("occlusion", "occlusion_signed"):
        return occlusion_cost(text)
    if method not in METHODS:
        raise ValueError(f"unknown localisation method {method!r} (expected one of {METHODS})")
    if not candidate_lines(text):
        return 0
    return GXI_COST if method == "gradient_x_input" else GXI_COST * IG_STEPS


class LineScorer(Protocol):
    """What attribution needs from the served ensemble (``serving.EnsembleScorer``)."""

    models: list[Any]
    tokenizer: Any

    def prepare(self, funcs: list[str]) -> list[str]: ...

    def encode(self, funcs: list[str], prepared: bool = False) -> list[list[int]]: ...

    def features(
        self, funcs: list[str], token_ids: list[list[int]], prepared: bool = False
    ) -> Any: ...

    def logits(self, funcs: list[str]) -> np.ndarray: ...


def blank_line(text: str, line: int) -> str:
    """``text`` with 1-based ``line``'s content removed (its newline kept)."""
    lines = text.split("\n")
    lines[line - 1] = ""
    return "\n".join(lines)


def occlusion_scores(scorer: LineScorer, text: str) -> dict[int, float]:
    """``{line: logit(text) − logit(text without the line)}`` for every candidate line;
    ``{}`` when there is none or more than :data:`MAX_OCCLUSION_LINES`."""
    cands = candidate_lines(text)
    if not cands or len(cands) > MAX_OCCLUSION_LINES:
        return {}
    logits = scorer.logits([text, *(blank_line(text, ln) for ln in cands)])
    base = float(logits[0])
    return {ln: base - float(v) for ln, v in zip(cands, logits[1:], strict=True)}


def _one_batch(scorer: LineScorer, text: str, ids: list[int], prepared: bool = False) -> Batch:
    pad = int(scorer.tokenizer.pad_token_id)
    layout = BatchLayout(tokens=True, graphs=True, pad_id=pad)
    feats = scorer.features([text], [ids], prepared=prepared)
    return next(iter(eval_loader(feats, layout, 1, 1)))


def token_spans(scorer: LineScorer, text: str, ids: list[int]) -> list[tuple[int, int]] | None:
    """Character span of each of ``ids`` in ``text`` (``(0, 0)`` for special tokens), or
    ``None`` when the tokenizer's offsets do not line up with the ids the model scored.
    ``text`` is what the model read (``scorer.prepare``'s output)."""
    enc = scorer.tokenizer(text, return_offsets_mapping=True, verbose=False)
    full, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    if len(full) > len(ids):  # truncated as tokenization._truncate does: head + closing token
        full, offsets = full[: len(ids) - 1] + full[-1:], [*offsets[: len(ids) - 1], (0, 0)]
    if full != ids:
        return None
    return [(int(a), int(b)) for a, b in offsets]


def _fusion_logit(model: Any, g_emb: torch.Tensor | None) -> Callable[..., torch.Tensor]:
    """``f(input_ids, attention_mask) -> logit (S,)`` through the Transformer branch and the
    fusion head, the graph embedding fixed (the fusion model runs frozen branches without
    gradients, so this re-composes ``head(concat(t, g))`` with gradients on). A plain
    Transformer classifier (no fusion) goes through its own dense/tanh/out head."""
    fused = getattr(model, "transformer", None) is not None
    branch = model.transformer if fused else model

    def f(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # windows and pooling as scoring reads the function (the whole last layer runs)
        t = branch.embed_tokens(input_ids, attention_mask, full=True)
        if not fused:
            return model.out(torch.tanh(model.dense(t))).squeeze(-1)
        parts = [t.float()]
        if g_emb is not None:
            parts.append(g_emb.expand(t.shape[0], -1))
        return model.head(torch.cat(parts, dim=-1)).squeeze(-1)

    return f


def _branch(model: Any) -> Any:
    """The Transformer classifier of a fusion model, or the model itself."""
    branch = getattr(model, "transformer", None)
    return branch if branch is not None else model


def _encoder(model: Any) -> Any:
    """The Transformer encoder of a fusion model or of a Transformer classifier."""
    enc = getattr(_branch(model), "encoder", None)
    if enc is None:
        raise ValueError("integrated gradients need the Transformer branch")
    return enc


def ig_token_scores(
    scorer: LineScorer, text: str, steps: int = IG_STEPS
) -> tuple[list[int], np.ndarray]:
    """Integrated-gradients attribution per token of ``text``, averaged over the seeds.

    Returns ``(token ids, scores (T,))``; raises ``ValueError`` when a seed has no
    Transformer branch.
    """
    return _token_attributions(scorer, text, "integrated_gradients", steps)


def gxi_token_scores(scorer: LineScorer, text: str) -> tuple[list[int], np.ndarray]:
    """Input × gradient attribution per token of ``text`` (summed over the embedding
    dimension), averaged over the seeds.

    Returns ``(token ids, scores (T,))``; raises ``ValueError`` when a seed has no
    Transformer branch.
    """
    return _token_attributions(scorer, text, "gradient_x_input", 0)


def _token_attributions(
    scorer: LineScorer, text: str, method: str, steps: int
) -> tuple[list[int], np.ndarray]:
    """Per-token attributions by ``method`` (``integrated_gradients`` with ``steps``, from an
    all-pad baseline, or ``gradient_x_input``) on the Transformer's word embeddings."""
    # heavy: only when these methods run
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

    text = scorer.prepare([text])[0]  # once: encode and features read it as it is
    ids = scorer.encode([text], prepared=True)[0]
    batch = _one_batch(scorer, text, ids, prepared=True)
    assert batch.input_ids is not None and batch.attention_mask is not None
    input_ids, mask = batch.input_ids, batch.attention_mask
    special = set(scorer.tokenizer.all_special_ids)
    pad = int(scorer.tokenizer.pad_token_id)
    baseline = input_ids.clone()
    keep = torch.tensor([int(t) in special for t in input_ids[0].tolist()])
    baseline[0, ~keep] = pad
    total = np.zeros(input_ids.shape[1], dtype=np.float64)
    for model in scorer.models:
        enc = _encoder(model)
        gnn = getattr(model, "gnn", None)
        g = gnn.embed(batch).float().detach() if gnn is not None else None
        forward, layer = _fusion_logit(model, g), enc.embeddings.word_embeddings
        with torch.enable_grad():
            if method == "gradient_x_input":
                attr = LayerGradientXActivation(forward, layer).attribute(
                    input_ids, additional_forward_args=(mask,)
                )
            else:
                attr = LayerIntegratedGradients(forward, layer).attribute(
                    input_ids, baselines=baseline, additional_forward_args=(mask,), n_steps=steps
                )
        per_token = attr.sum(dim=-1).detach()
        windows = _branch(model).split(input_ids, mask)
        if windows is not None:  # (W, L) per window token → (1, T): overlaps add up
            per_token = windows.gather(per_token, input_ids.shape[1])
        total += per_token[0].double().numpy()
    return ids, total[: len(ids)] / len(scorer.models)


def ig_scores(scorer: LineScorer, text: str, steps: int = IG_STEPS) -> dict[int, float]:
    """``{line: summed integrated-gradients attribution of its tokens}``; ``{}`` when the
    tokenizer's offsets cannot be matched to the scored tokens."""
    return _per_line(scorer, text, *ig_token_scores(scorer, text, steps))


def gxi_scores(scorer: LineScorer, text: str) -> dict[int, float]:
    """``{line: summed input × gradient attribution of its tokens}``; ``{}`` when the
    tokenizer's offsets cannot be matched to the scored tokens."""
    return _per_line(scorer, text, *gxi_token_scores(scorer, text))


def _per_line(
    scorer: LineScorer, text: str, ids: list[int], scores: np.ndarray
) -> dict[int, float]:
    """Token attributions summed per line of ``text`` (``{}`` when offsets do not line up);
    offsets are those of the text the model read (``prepare``: same lines)."""
    text = scorer.prepare([text])[0]
    spans = token_spans(scorer, text, ids)
    return {} if spans is None else spans_to_lines(text, spans, scores.tolist())


def line_scores(scorer: LineScorer, text: str, method: str = DEFAULT_METHOD) -> dict[int, float]:
    """Per-line scores of ``text`` by ``method`` (one of :data:`METHODS`).

    Raises:
        ValueError: an unknown method.
    """
    if method == "occlusion":
        return {ln: abs(v) for ln, v in occlusion_scores(scorer, text).items()}
    if method == "occlusion_signed":
        return occlusion_scores(scorer, text)
    if method == "integrated_gradients":  # magnitude, as for occlusion (measured better)
        return {ln: abs(v) for ln, v in ig_scores(scorer, text).items()}
    if method == "gradient_x_input":
        return {ln: abs(v) for ln, v in gxi_scores(scorer, text).items()}
    raise ValueError(f"unknown localisation method {method!r} (expected one of {METHODS})")


def top_lines(
    scorer: LineScorer, texts: Sequence[str], k: int, method: str = DEFAULT_METHOD
) -> list[list[tuple[int, float]]]:
    """The ``k`` best ``(line, score)`` of each text, best first (1-based lines of the text)."""
    out: list[list[tuple[int, float]]] = []
    for text in texts:
        scores = line_scores(scorer, text, method)
        if not scores:  # nothing to rank, or over the budget: no lines rather than made-up ones
            out.append([])
            continue
        best = rank(scores, candidate_lines(text))[:k]
        out.append([(ln, round(scores.get(ln, 0.0), 6)) for ln in best])
    return out
