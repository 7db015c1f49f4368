"""Tokenizers for the Transformer branch.

``scratch``: a byte-level BPE trained on the train split (RoBERTa special tokens, so a
``RobertaModel`` from a config reads it as-is). Hub models: their own tokenizer, from a local
directory or the local Hugging Face cache — never a download at run time unless the user
allows it. Either way the tokenizer is saved with ``save_pretrained`` beside the features, so
every later stage (and the served model) loads one directory.

Where the C pre-tokenizer ``vulnfusion._bytebpe`` is built (see its source), the scratch
BPE is trained from word counts it makes and ASCII texts are encoded through it with the
tokenizer's own BPE model: the same vocabulary and ids as ``tokenizers`` alone (tested), in
~1/4 of the CPU time. ``VULNFUSION_PURE_PYTHON_TOKENIZE=1`` turns it off.

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

from vulnfusion.bytebpe import (
    byte_level_word_counts,
    native_bytebpe,
    native_encoder,
    train_merges,
)
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
    """Train a byte-level BPE on ``texts``; returns a ``PreTrainedTokenizerFast``.

    ``tokenizers``' ``ByteLevelBPETokenizer`` and ``BpeTrainer`` (min frequency 2, RoBERTa
    special tokens) on each text's head (``head``). With the C pre-tokenizer, the trainer is
    trained on the corpus's word counts instead (``bytebpe``): the same merges and
    vocabulary, ~4x less CPU.
    """
    from tokenizers import ByteLevelBPETokenizer, models, pre_tokenizers
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    heads = (head(t, max_length) for t in texts)  # the ids keep only each function's head
    native = native_bytebpe()
    if native is None:
        bpe.train_from_iterator(
            heads,
            vocab_size=vocab_size,
            min_frequency=2,
            special_tokens=SPECIAL_TOKENS,
            show_progress=False,
        )
    else:
        counts = byte_level_word_counts(native, heads)
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        vocab, merges = train_merges(counts, vocab_size, 2, SPECIAL_TOKENS, alphabet)
        bpe._tokenizer.model = models.BPE(vocab=vocab, merges=merges)
        bpe._tokenizer.add_special_tokens(SPECIAL_TOKENS)  # as the trainer does
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


# Token ids are truncated to max_length, so only a function's head matters. Tokenizing a head
# instead of the whole text is ~4x faster on Devign; a head that yields too few tokens (e.g.
# long whitespace runs) is redone in full. ``train_bpe`` trains on heads of
# ``HEAD_CHARS_PER_TOKEN`` characters per kept token (the vocabulary depends on it: keep it);
# ``encode`` first tries shorter heads of ``ENCODE_CHARS_PER_TOKEN`` (Devign averages ~3.2
# characters per token, so 5 covers max_length + margin for almost every function and
# tokenizes ~30% fewer characters than 6; measured: 1.14 s against 1.59 s CPU on 2,000
# functions). Either way the ids equal those of the full text (see ``encode``).
HEAD_CHARS_PER_TOKEN = 6
ENCODE_CHARS_PER_TOKEN = 5
HEAD_MARGIN_TOKENS = 64


def head(text: str, max_length: int) -> str:
    return text[: max_length * HEAD_CHARS_PER_TOKEN]


def encode(
    tokenizer: Any, texts: Sequence[str], max_length: int, batch: int = 1024
) -> list[list[int]]:
    """Token ids per text, truncated to ``max_length`` (special tokens included).

    The ids of ``tokenizer(text, truncation=True, max_length=max_length)``. ASCII texts go
    through the C pre-tokenizer where the tokenizer allows it (``bytebpe.native_encoder``), the rest
    through ``tokenizers`` (``_encode_heads``).
    """
    run = native_encoder(tokenizer, max_length)
    if run is None:
        return _encode_heads(tokenizer, texts, max_length, batch)
    out = [run(t) for t in texts]
    rest = [i for i, ids in enumerate(out) if ids is None]
    if rest:
        redone = _encode_heads(tokenizer, [texts[i] for i in rest], max_length, batch)
        for i, ids in zip(rest, redone, strict=True):
            out[i] = ids
    return out  # type: ignore[return-value]  # every None was replaced


def _encode_heads(
    tokenizer: Any, texts: Sequence[str], max_length: int, batch: int = 1024
) -> list[list[int]]:
    """``encode`` through ``tokenizers`` alone.

    Equal to encoding the full texts whenever the cut falls past the last kept token plus a
    margin of ``HEAD_MARGIN_TOKENS`` (one pre-tokenized word is all a cut can change); a
    head that yields fewer tokens than that is encoded again in full.
    """
    run = _batch_encoder(tokenizer)
    cut = max_length * ENCODE_CHARS_PER_TOKEN
    out: list[list[int]] = []
    for i in range(0, len(texts), batch):
        chunk = list(texts[i : i + batch])
        heads = [t[:cut] for t in chunk]
        enc = run(heads)
        redo = [
            j
            for j, (t, h, ids) in enumerate(zip(chunk, heads, enc, strict=True))
            if len(h) < len(t) and len(ids) < max_length + HEAD_MARGIN_TOKENS
        ]
        if redo:
            for j, ids in zip(redo, run([chunk[j] for j in redo]), strict=True):
                enc[j] = ids
        out.extend(_truncate(ids, max_length) for ids in enc)
    return out


def _batch_encoder(tokenizer: Any) -> Any:
    """``texts -> ids`` with special tokens and no truncation or padding.

    A fast tokenizer's Rust backend is called directly (``encode_batch_fast``, tokenizers
    >= 0.20, else ``encode_batch``: the same ids as ``tokenizer(texts)``, without building a
    ``BatchEncoding`` of Python lists for the attention masks; ``_fast`` also skips the
    character offsets nobody here reads: 23% less CPU on Devign, same ids); only when the
    backend itself carries no truncation or padding setting, else (and for slow tokenizers)
    through ``tokenizer(...)``.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and backend.truncation is None and backend.padding is None:
        batch = getattr(backend, "encode_batch_fast", backend.encode_batch)

        def fast(texts: list[str]) -> list[list[int]]:
            return [e.ids for e in batch(texts, add_special_tokens=True)]

        return fast

    def slow(texts: list[str]) -> list[list[int]]:
        ids: list[list[int]] = tokenizer(texts, truncation=False, verbose=False)["input_ids"]
        return ids

    return slow


def _truncate(ids: list[int], max_length: int) -> list[int]:
    """Keep the first ``max_length - 1`` ids and the closing special token (as truncation=True)."""
    return ids if len(ids) <= max_length else ids[: max_length - 1] + ids[-1:]


def load_tokenizer_dir(path: str | Path) -> Any:
    """Load the tokenizer saved beside the features (never touches the network)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
