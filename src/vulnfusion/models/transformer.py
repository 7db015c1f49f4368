"""The Transformer branch: a RoBERTa-family encoder, first-token (CLS) embedding → head.

Functions longer than ``max_length`` tokens are read as overlapping windows whose embeddings
are pooled (:mod:`vulnfusion.models.windows`; ``transformer.windows`` in params).

The module does no I/O: ``build_encoder`` / ``encoder_from_spec`` below create the encoder
(from a config for ``scratch``, from a local directory or cache for pretrained models) and
the checkpoint records the encoder's full config so it is rebuilt exactly, never guessed.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch
from torch import nn

from vulnfusion.batching import Batch
from vulnfusion.config import TransformerConfig
from vulnfusion.models.windows import Windows, WindowSpec, split_windows
from vulnfusion.tokenization import from_pretrained_offline


class TransformerClassifier(nn.Module):
    """Encoder → CLS vector (B, H) → dense/tanh → dropout → logit (B,).

    Its architecture spec (``transformer_spec``) is what a checkpoint records;
    ``from_spec`` rebuilds the untrained model from it exactly.
    """

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TransformerClassifier:
        """An untrained model from a recorded ``transformer_spec`` (weights load after)."""
        return cls.from_encoder(encoder_from_spec(spec["hf_config"]), spec)

    @classmethod
    def from_encoder(cls, encoder: nn.Module, spec: dict[str, Any]) -> TransformerClassifier:
        """A model around an existing (e.g. pretrained) ``encoder`` per ``spec``."""
        hidden = int(spec["hf_config"]["hidden_size"])
        return cls(encoder, hidden, spec["head_dropout"], WindowSpec.from_spec(spec))

    def __init__(
        self,
        encoder: nn.Module,
        hidden_size: int,
        dropout: float,
        windows: WindowSpec | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        # None: every batch is one window per function (the head, as featurize cut it)
        self.windows = windows if windows is not None and windows.max_windows > 1 else None
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, 1)
        self.embed_dim = hidden_size
        # a property of the encoder's layout: checked once, not on every eval batch
        self.first_token_path = first_token_path_ok(encoder)

    def embed(self, batch: Batch) -> torch.Tensor:
        """The function embedding (B, H) that fusion consumes: the first-token embedding,
        pooled over the windows of a function longer than ``max_length``.

        In eval mode the last layer runs for the first token only (``first_token_output``):
        the same numbers as the full forward, at about half the cost for 2 layers.
        """
        assert batch.input_ids is not None and batch.attention_mask is not None
        return self.embed_tokens(batch.input_ids, batch.attention_mask)

    def split(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Windows | None:
        """The batch's windows, or ``None`` when every row fits one window as it is."""
        if self.windows is None or input_ids.shape[1] <= self.windows.max_length:
            return None
        pad = getattr(getattr(self.encoder, "config", None), "pad_token_id", None)
        return split_windows(input_ids, attention_mask, self.windows, 1 if pad is None else pad)

    def embed_tokens(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, full: bool = False
    ) -> torch.Tensor:
        """``embed`` on tensors (B, T); ``full`` always runs the whole last layer (the path
        gradient attributions take)."""
        windows = self.split(input_ids, attention_mask)
        if windows is not None:
            input_ids, attention_mask = windows.input_ids, windows.attention_mask
        if not self.training and self.first_token_path and not full:
            emb = first_token_output(self.encoder, input_ids, attention_mask)
        else:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
            emb = hidden.last_hidden_state[:, 0]
        if windows is None:
            return emb
        assert self.windows is not None
        return windows.pool(emb, self.windows.pooling)

    def forward(self, batch: Batch) -> torch.Tensor:
        x = torch.tanh(self.dense(self.dropout(self.embed(batch))))
        return self.out(self.dropout(x)).squeeze(-1)


_LAST_LAYER_PARTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output",
    "intermediate",
    "output",
)


def first_token_path_ok(encoder: nn.Module) -> bool:
    """Whether ``encoder`` is a BERT/RoBERTa-layout encoder ``first_token_output`` handles.

    Anything else (decoders, cross-attention, relative positions, an unknown layout) keeps
    the full forward.
    """
    config = getattr(encoder, "config", None)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if config is None or not isinstance(layers, nn.ModuleList) or len(layers) == 0:
        return False
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return False
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        return False
    return all(_has(layers[-1], p) for p in _LAST_LAYER_PARTS)


def _has(module: nn.Module, path: str) -> bool:
    try:
        module.get_submodule(path)
    except AttributeError:
        return False
    return True


def _without_last_layer(encoder: Any) -> Any:
    """A view of ``encoder`` (same parameters, nothing copied) that stops one layer early.

    ``encoder`` is a Hugging Face model (``Any``: its submodules are dynamic attributes).
    """
    view = copy.copy(encoder)
    view._modules = dict(encoder._modules)
    inner = copy.copy(encoder.encoder)
    inner._modules = dict(encoder.encoder._modules)
    inner._modules["layer"] = nn.ModuleList(list(encoder.encoder.layer)[:-1])
    view._modules["encoder"] = inner
    return view


def first_token_output(
    encoder: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """The last layer's output at position 0 (B, H), computing that layer for one query.

    Every layer but the last runs as usual. The last one needs keys and values for all
    positions, but its query, attention output and feed-forward only for the first token:
    the rest of that layer's work is thrown away by the classifier anyway.
    """
    hidden = _without_last_layer(encoder)(
        input_ids=input_ids, attention_mask=attention_mask
    ).last_hidden_state
    layer = encoder.encoder.layer[-1]
    attn = layer.attention.self
    heads = int(encoder.config.num_attention_heads)
    b, n, h = hidden.shape
    first = hidden[:, :1]
    q = attn.query(first).view(b, 1, heads, -1).transpose(1, 2)
    k = attn.key(hidden).view(b, n, heads, -1).transpose(1, 2)
    v = attn.value(hidden).view(b, n, heads, -1).transpose(1, 2)
    mask = attention_mask[:, None, None, :].to(torch.bool)
    ctx = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ctx = ctx.transpose(1, 2).reshape(b, 1, h)
    x = layer.attention.output(ctx, first)
    return layer.output(layer.intermediate(x), x)[:, 0]


def _drop_pooler(encoder: nn.Module) -> nn.Module:
    # The pooler is never used (we read the first token); unused parameters break DDP.
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None  # type: ignore[assignment]
    return encoder


def scratch_config(cfg: TransformerConfig, tokenizer: Any) -> dict[str, Any]:
    """A small RoBERTa config sized from params and the trained tokenizer."""
    s = cfg.scratch
    return {
        "model_type": "roberta",
        "vocab_size": len(tokenizer),
        "hidden_size": s.hidden_size,
        "num_hidden_layers": s.num_layers,
        "num_attention_heads": s.num_heads,
        "intermediate_size": s.intermediate_size,
        "hidden_dropout_prob": s.dropout,
        "attention_probs_dropout_prob": s.attention_dropout,
        "max_position_embeddings": cfg.max_length + 2,
        "type_vocab_size": 1,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


def encoder_from_spec(hf_config: dict[str, Any]) -> nn.Module:
    """Rebuild an (untrained) encoder from a recorded config dict; weights load afterwards."""
    from transformers import AutoConfig, AutoModel  # heavy: loaded when a model is built

    conf = dict(hf_config)
    conf.pop("transformers_version", None)
    config = AutoConfig.for_model(conf.pop("model_type"), **conf)
    return _drop_pooler(AutoModel.from_config(config))


def build_encoder(cfg: TransformerConfig, tokenizer: Any) -> tuple[nn.Module, dict[str, Any]]:
    """A fresh encoder for training and the config dict to record in the checkpoint.

    Pretrained encoders load offline-first (``tokenization.from_pretrained_offline``);
    raises ``ModelNotAvailableError`` when the model is not available locally.
    """
    if cfg.model_name == "scratch":
        spec = scratch_config(cfg, tokenizer)
        return encoder_from_spec(spec), spec
    from transformers import AutoModel  # heavy: only when a pretrained encoder is asked for

    enc = from_pretrained_offline(AutoModel, cfg.model_name, cfg.hub_models)
    return _drop_pooler(enc), enc.config.to_dict()


def transformer_spec(
    cfg: TransformerConfig, hf_config: dict[str, Any], pad_id: int
) -> dict[str, Any]:
    """The architecture spec a transformer checkpoint records (``from_spec`` reads it)."""
    return {
        "kind": "transformer",
        "hf_config": hf_config,
        "source": cfg.model_name,
        "head_dropout": cfg.head_dropout,
        "pad_id": pad_id,
        "max_length": cfg.max_length,
        "windows": dataclasses.asdict(cfg.windows),  # WindowSpec.from_spec reads it back
    }


def new_transformer(
    cfg: TransformerConfig, tokenizer: Any
) -> tuple[TransformerClassifier, dict[str, Any]]:
    """A fresh model for training and its architecture spec."""
    enc, hf_config = build_encoder(cfg, tokenizer)
    spec = transformer_spec(cfg, hf_config, tokenizer.pad_token_id)
    return TransformerClassifier.from_encoder(enc, spec), spec
