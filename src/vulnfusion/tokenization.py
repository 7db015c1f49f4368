"""Tokenizers for the Transformer branch.

``scratch``: a byte-level BPE trained on the train split (RoBERTa special tokens, so a
``RobertaModel`` from a config reads it as-is). Hub models: their own tokenizer, from a local
directory or the local Hugging Face cache — never a download at run time unless the user
allows it. Either way the tokenizer is saved with ``save_pretrained`` beside the features, so
every later stage (and the served model) loads one directory.

``tokenizers`` and ``transformers`` are imported inside the functions that need them: they
take seconds to import, and this module is imported (for its error type and model-name
resolution) by code that never tokenizes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vulnfusion.errors import VulnfusionError

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


class ModelNotAvailableError(VulnfusionError, RuntimeError):
    """A hub model is neither a local directory nor in the local cache (one-line message)."""


def resolve_model_name(model_name: str, hub_models: Mapping[str, str]) -> str:
    """Map a short name (``codebert``) to its hub id; ``scratch`` and paths pass through."""
    if model_name == "scratch" or Path(model_name).expanduser().is_dir():
        return model_name
    if model_name in hub_models:
        return hub_models[model_name]
    if "/" in model_name:
        return model_name  # an explicit hub id such as microsoft/codebert-base
    known = ", ".join(["scratch", *sorted(hub_models)])
    raise ModelNotAvailableError(
        f"transformer.model_name={model_name!r}: not a known model ({known}) or a local directory"
    )


def train_bpe(texts: Iterable[str], vocab_size: int, max_length: int) -> Any:
    """Train a byte-level BPE on ``texts``; returns a ``PreTrainedTokenizerFast``."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        (head(t, max_length) for t in texts),  # the ids keep only each function's head
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
    )
    bpe.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0))
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=max_length,
    )


def from_pretrained_offline(loader: Any, model_name: str, hub_models: Mapping[str, str]) -> Any:
    """``loader.from_pretrained`` (``AutoTokenizer``, ``AutoModel``…) offline-first.

    ``model_name`` is a short name, a hub id or a local directory. Nothing is downloaded
    unless ``VULNFUSION_ALLOW_DOWNLOAD=1``; a model that is not available locally raises
    ``ModelNotAvailableError`` with a one-line hint.
    """
    name = resolve_model_name(model_name, hub_models)
    local_only = Path(name).is_dir() or os.environ.get("VULNFUSION_ALLOW_DOWNLOAD") != "1"
    try:
        return loader.from_pretrained(name, local_files_only=local_only)
    except (OSError, ValueError) as exc:
        raise ModelNotAvailableError(_offline_hint(model_name, name, exc)) from None


def load_hub_tokenizer(model_name: str, hub_models: Mapping[str, str]) -> Any:
    """Load a pretrained model's tokenizer offline-first, with a one-line error if absent."""
    from transformers import AutoTokenizer  # heavy: only for pretrained models

    return from_pretrained_offline(AutoTokenizer, model_name, hub_models)


def _offline_hint(model_name: str, name: str, exc: Exception) -> str:
    if Path(name).exists():
        return (
            f"transformer.model_name={model_name!r}: cannot load {name} ({exc.__class__.__name__})"
        )
    return (
        f"transformer.model_name={model_name!r}: {name} is not available offline; download it "
        f"once (huggingface-cli download {name}) or point model_name at a local directory "
        "saved with save_pretrained (set VULNFUSION_ALLOW_DOWNLOAD=1 to fetch at run time)"
    )


# Token ids are truncated to max_length, so only a function's head matters. Tokenizing the
# head (max_length * HEAD_CHARS_PER_TOKEN characters) instead of the whole text is ~4x faster
# on Devign; a head that yields too few tokens (e.g. long whitespace runs) is redone in full.
HEAD_CHARS_PER_TOKEN = 6
HEAD_MARGIN_TOKENS = 64


def head(text: str, max_length: int) -> str:
    return text[: max_length * HEAD_CHARS_PER_TOKEN]


def encode(
    tokenizer: Any, texts: Sequence[str], max_length: int, batch: int = 1024
) -> list[list[int]]:
    """Token ids per text, truncated to ``max_length`` (special tokens included).

    Equal to encoding the full texts whenever the cut falls past the last kept token plus a
    margin of ``HEAD_MARGIN_TOKENS`` (one pre-tokenized word is all a cut can change).
    """
    out: list[list[int]] = []
    for i in range(0, len(texts), batch):
        chunk = list(texts[i : i + batch])
        heads = [head(t, max_length) for t in chunk]
        enc = tokenizer(heads, truncation=False, verbose=False)["input_ids"]
        redo = [
            j
            for j, (t, h, ids) in enumerate(zip(chunk, heads, enc, strict=True))
            if len(h) < len(t) and len(ids) < max_length + HEAD_MARGIN_TOKENS
        ]
        if redo:
            full = tokenizer([chunk[j] for j in redo], truncation=False, verbose=False)["input_ids"]
            for j, ids in zip(redo, full, strict=True):
                enc[j] = ids
        out.extend(_truncate(ids, max_length) for ids in enc)
    return out


def _truncate(ids: list[int], max_length: int) -> list[int]:
    """Keep the first ``max_length - 1`` ids and the closing special token (as truncation=True)."""
    return ids if len(ids) <= max_length else ids[: max_length - 1] + ids[-1:]


def load_tokenizer_dir(path: str | Path) -> Any:
    """Load the tokenizer saved beside the features (never touches the network)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
