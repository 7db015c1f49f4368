"""The Transformer's eval-mode first-token path computes what the full forward computes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoConfig, AutoModel

import vulnfusion.models.transformer as transformer_module
from vulnfusion.batching import Batch
from vulnfusion.models.transformer import (
    TransformerClassifier,
    first_token_output,
    first_token_path_ok,
)


def roberta(num_layers: int, seed: int, **extra: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    conf = AutoConfig.for_model(
        "roberta",
        vocab_size=300,
        hidden_size=32,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=66,
        type_vocab_size=1,
        pad_token_id=1,
        **extra,
    )
    return AutoModel.from_config(conf).eval()


def padded_batch(seed: int, rows: int = 6, length: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 300, (rows, length), generator=g)
    ids[:, 0] = 0
    mask = torch.ones_like(ids)
    for i in range(rows):  # ragged rows: the padding must not leak into the first token
        n = int(torch.randint(2, length + 1, (1,), generator=g))
        ids[i, n:], mask[i, n:] = 1, 0
    return ids, mask


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_first_token_output_equals_full_forward(num_layers: int, seed: int) -> None:
    enc = roberta(num_layers, seed)
    ids, mask = padded_batch(seed)
    assert first_token_path_ok(enc)
    with torch.inference_mode():
        full = enc(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]
        fast = first_token_output(enc, ids, mask)
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-5)


def test_classifier_uses_it_in_eval_only_and_keeps_its_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enc = roberta(2, 3)
    model = TransformerClassifier(enc, 32, 0.1)
    names = [n for n, _ in model.named_parameters()]
    ids, mask = padded_batch(3)
    batch = Batch(
        index=torch.arange(len(ids)),
        labels=torch.zeros(len(ids)),
        input_ids=ids,
        attention_mask=mask,
    )
    model.eval()
    with torch.no_grad():
        fast = model(batch)
        full = model.out(
            torch.tanh(model.dense(enc(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]))
        ).squeeze(-1)
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-5)
    # the view that skips the last layer is never registered: same parameters, same state
    assert [n for n, _ in model.named_parameters()] == names
    assert len(enc.encoder.layer) == 2

    # training keeps the full forward (dropout on every position): the fast path must not run
    def no_fast_path(*args: object) -> torch.Tensor:
        raise AssertionError("first_token_output ran in training")

    monkeypatch.setattr(transformer_module, "first_token_output", no_fast_path)
    model.train()
    model(batch).sum().backward()
    assert enc.encoder.layer[-1].output.dense.weight.grad is not None


def test_layouts_it_does_not_know_keep_the_full_forward() -> None:
    assert not first_token_path_ok(roberta(2, 0, is_decoder=True))
    assert not first_token_path_ok(SimpleNamespace(config=None))  # type: ignore[arg-type]
    assert not first_token_path_ok(torch.nn.Linear(2, 2))


def test_first_token_output_under_bf16_autocast() -> None:
    """The AMP path (bf16 autocast, as on a GPU) runs and stays close to the full forward."""
    enc = roberta(2, 4)
    ids, mask = padded_batch(4)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        full = enc(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0].float()
        fast = first_token_output(enc, ids, mask).float()
    torch.testing.assert_close(fast, full, rtol=0.05, atol=0.05)
