"""The Transformer branch: a RoBERTa-family encoder, first-token (CLS) embedding → head.

The module does no I/O: ``build_encoder`` / ``encoder_from_spec`` below create the encoder
(from a config for ``scratch``, from a local directory or cache for pretrained models) and
the checkpoint records the encoder's full config so it is rebuilt exactly, never guessed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vulnfusion.batching import Batch
from vulnfusion.config import TransformerConfig
from vulnfusion.tokenization import ModelNotAvailableError, resolve_model_name


class TransformerClassifier(nn.Module):
    """Encoder → CLS vector (B, H) → dense/tanh → dropout → logit (B,)."""

    def __init__(self, encoder: nn.Module, hidden_size: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, 1)
        self.embed_dim = hidden_size

    def embed(self, batch: Batch) -> torch.Tensor:
        """The first-token embedding (B, H) that fusion consumes."""
        assert batch.input_ids is not None and batch.attention_mask is not None
        hidden = self.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        return hidden.last_hidden_state[:, 0]

    def forward(self, batch: Batch) -> torch.Tensor:
        x = torch.tanh(self.dense(self.dropout(self.embed(batch))))
        return self.out(self.dropout(x)).squeeze(-1)


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
    from transformers import AutoConfig, AutoModel

    conf = dict(hf_config)
    conf.pop("transformers_version", None)
    config = AutoConfig.for_model(conf.pop("model_type"), **conf)
    return _drop_pooler(AutoModel.from_config(config))


def build_encoder(cfg: TransformerConfig, tokenizer: Any) -> tuple[nn.Module, dict[str, Any]]:
    """A fresh encoder for training and the config dict to record in the checkpoint."""
    if cfg.model_name == "scratch":
        spec = scratch_config(cfg, tokenizer)
        return encoder_from_spec(spec), spec
    from transformers import AutoModel

    name = resolve_model_name(cfg.model_name, cfg.hub_models)
    local_only = Path(name).is_dir() or os.environ.get("VULNFUSION_ALLOW_DOWNLOAD") != "1"
    try:
        enc = AutoModel.from_pretrained(name, local_files_only=local_only)
    except (OSError, ValueError) as exc:
        raise ModelNotAvailableError(
            f"transformer.model_name={cfg.model_name!r}: {name} is not available offline "
            f"({exc.__class__.__name__}); download it once or use a save_pretrained directory"
        ) from None
    return _drop_pooler(enc), enc.config.to_dict()
