"""benchmarks/pretrained_init.py on the tiny workspace (real features, a real MLM step): the
train windows are cut exactly as the docstring says, and the MLM-trained encoder loads into
the Transformer branch key for key."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from tests.helpers import ROOT


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pretrained_init", ROOT / "benchmarks" / "pretrained_init.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_windows_cut_consecutive_bodies(
    tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vulnfusion.features import load_split

    monkeypatch.chdir(tiny_workspace)
    wins = _script().train_windows(max_length=8, max_windows=2)
    split = load_split("data/features/train.safetensors")
    ptr, ids = split.arrays["tok_ptr"], split.arrays["tok_ids"]
    expected: list[list[int]] = []
    for i in range(len(split)):
        seq = ids[ptr[i] : ptr[i + 1]].tolist()
        body = seq[1:-1]
        for k in range(min(2, math.ceil(len(body) / 6))):
            expected.append([seq[0], *body[6 * k : 6 * k + 6], seq[-1]])
    assert [w.tolist() for w in wins] == expected
    assert all(len(w) <= 8 for w in wins)


def test_mlm_encoder_loads_into_the_branch(
    tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vulnfusion.config import load_config
    from vulnfusion.models.transformer import new_transformer
    from vulnfusion.tokenization import load_tokenizer_dir

    monkeypatch.chdir(tiny_workspace)
    state = _script().mlm_encoder(minutes=5.0, batch_size=16, lr=1e-3, seed=0)
    torch.manual_seed(0)
    model, _ = new_transformer(
        load_config().transformer, load_tokenizer_dir("data/features/tokenizer")
    )
    fresh = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    result = model.encoder.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    loaded = model.encoder.state_dict()
    # the encoder now holds the MLM-trained weights, which moved away from a fresh start
    key = "embeddings.word_embeddings.weight"
    assert torch.equal(loaded[key], state[key])
    assert not np.allclose(loaded[key].numpy(), fresh[key].numpy())
