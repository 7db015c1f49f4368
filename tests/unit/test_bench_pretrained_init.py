"""benchmarks/pretrained_init.py on the tiny workspace (real features, real MLM steps): the
train windows are the classifier's own, and the MLM-trained encoder loads into the
Transformer branch key for key."""

from __future__ import annotations

import importlib.util
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


def test_train_windows_are_the_classifiers_windows(
    tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every train function's windows equal what the classifier's own batch path
    (``models.windows.split_windows``) cuts from it, overlap and moved-back last window
    included."""
    from vulnfusion.features import load_split
    from vulnfusion.models.windows import WindowSpec, split_windows

    monkeypatch.chdir(tiny_workspace)
    spec = WindowSpec(max_length=8, max_windows=3, stride=4, pooling="mean")
    wins = _script().train_windows(spec)
    split = load_split("data/features/train.safetensors")
    ptr, ids = split.arrays["tok_ptr"], split.arrays["tok_ids"]
    expected: list[list[int]] = []
    for i in range(len(split)):
        row = torch.from_numpy(ids[ptr[i] : ptr[i + 1]].astype(np.int64))[None]
        if row.shape[1] <= spec.max_length:
            expected.append(row[0].tolist())
            continue
        cut = split_windows(row, torch.ones_like(row), spec, pad_id=1)
        expected.extend(w.tolist() for w in cut.input_ids)
    assert [w.tolist() for w in wins] == expected
    assert len(wins) > len(split)  # some functions are longer than one window
    assert all(len(w) <= 8 for w in wins)


def test_mlm_encoder_loads_into_the_branch(
    tiny_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vulnfusion.config import load_config
    from vulnfusion.models.transformer import new_transformer
    from vulnfusion.tokenization import load_tokenizer_dir

    monkeypatch.chdir(tiny_workspace)
    script = _script()
    untrained = script.mlm_encoder(minutes=0.0, batch_size=16, lr=1e-3, seed=0)
    state = script.mlm_encoder(minutes=5.0, batch_size=16, lr=1e-3, seed=0)
    model, _ = new_transformer(
        load_config().transformer, load_tokenizer_dir("data/features/tokenizer")
    )
    result = model.encoder.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # the MLM steps moved the weights away from the same seed's untrained start
    key = "embeddings.word_embeddings.weight"
    assert torch.equal(model.encoder.state_dict()[key], state[key])
    assert not torch.allclose(state[key], untrained[key])
