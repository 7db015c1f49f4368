"""Issue 17's feature options. Whole functions in the Transformer branch (deliverable 1):
overlapping windows, one batched encoder pass, pooled embeddings — the same code for
training, scoring and the gradient attributions. The module's trained run also normalises
identifiers (deliverable 3) and adds data-flow nodes to the graphs (deliverable 2), so the
served scorer is checked to apply all three exactly as featurize did, for both branches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from tests.helpers import score_functions, tiny_params
from vulnfusion.config import ConfigError, resolve
from vulnfusion.models.transformer import TransformerClassifier, encoder_from_spec
from vulnfusion.models.windows import WindowSpec, split_windows, window_starts

BOS, EOS, PAD = 0, 2, 1


@pytest.mark.parametrize(
    ("content", "span", "stride", "cap", "expected"),
    [
        (6, 6, 4, 3, [0]),  # fits: one window
        (7, 6, 4, 3, [0, 1]),  # one token over: a second window, moved back to end at the tail
        (10, 6, 4, 3, [0, 4]),  # the second window ends exactly at the tail
        (11, 6, 4, 3, [0, 4, 5]),
        (30, 6, 4, 3, [0, 4, 8]),  # capped: the tail past 3 windows is not read
        (30, 6, 6, 9, [0, 6, 12, 18, 24]),  # no overlap
        (500, 254, 192, 4, [0, 192, 246]),
    ],
)
def test_window_starts(content: int, span: int, stride: int, cap: int, expected: list[int]) -> None:
    assert window_starts(content, span, stride, cap) == expected


def _batch(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows <s> 10 11 … </s> padded; content token k of row r is 100*r + 10 + k."""
    width = max(lengths)
    ids = torch.full((len(lengths), width), PAD)
    mask = torch.zeros((len(lengths), width), dtype=torch.long)
    for r, n in enumerate(lengths):
        ids[r, :n] = torch.tensor([BOS, *(100 * r + 10 + k for k in range(n - 2)), EOS])
        mask[r, :n] = 1
    return ids, mask


def test_split_windows_exact() -> None:
    ids, mask = _batch([5, 12])  # row 0: 3 content tokens; row 1: 10
    w = split_windows(ids, mask, WindowSpec(max_length=6, max_windows=3, stride=3), PAD)
    # span 4: row 1's windows start at content 0, 3 and (moved back) 6
    assert w.owner.tolist() == [0, 1, 1, 1]
    assert w.input_ids.tolist() == [
        [BOS, 10, 11, 12, EOS, PAD],
        [BOS, 110, 111, 112, 113, EOS],
        [BOS, 113, 114, 115, 116, EOS],
        [BOS, 116, 117, 118, 119, EOS],
    ]
    assert w.attention_mask.tolist()[0] == [1, 1, 1, 1, 1, 0]
    assert w.positions.tolist()[0] == [0, 1, 2, 3, 4, -1]
    assert w.positions.tolist()[2] == [0, 4, 5, 6, 7, 11]
    # gather sums a value per window token back onto the row's tokens (overlaps add up)
    back = w.gather(torch.ones(4, 6), 12)
    assert back[0].tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert back[1].tolist() == [3, 1, 1, 1, 2, 1, 1, 2, 1, 1, 1, 3]


def _model(max_windows: int, pooling: str = "max", seed: int = 0) -> TransformerClassifier:
    hf = {
        "model_type": "roberta",
        "vocab_size": 400,
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 12,
        "type_vocab_size": 1,
        "pad_token_id": PAD,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
    }
    torch.manual_seed(seed)
    spec = {
        "hf_config": hf,
        "head_dropout": 0.0,
        "max_length": 10,
        "windows": {"max_windows": max_windows, "stride": 5, "pooling": pooling},
    }
    return TransformerClassifier.from_encoder(encoder_from_spec(hf), spec).eval()


def _ids(lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids, mask = _batch(lengths)
    body = torch.randint(3, 400, ids.shape, generator=g)
    inner = (mask == 1) & (ids != BOS) & (ids != EOS)
    return torch.where(inner, body, ids), mask


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_long_function_is_the_pool_of_its_windows(pooling: str) -> None:
    """A 25-token function read as windows embeds as the element-wise max (or mean) of the
    embeddings its windows get when each is scored alone as a short function."""
    model = _model(4, pooling)
    ids, mask = _ids([25, 7])
    with torch.inference_mode():
        got = model.embed_tokens(ids, mask)
        # 23 content tokens, span 8, stride 5: windows at 0, 5, 10 and (moved back) 15
        alone = [
            model.embed_tokens(
                torch.tensor([[BOS, *ids[0, 1 + s : 9 + s].tolist(), EOS]]),
                torch.ones(1, 10, dtype=torch.long),
            )
            for s in (0, 5, 10, 15)
        ]
        short = model.embed_tokens(ids[1:, :7], mask[1:, :7])
    stacked = torch.cat(alone)
    want = stacked.max(0).values if pooling == "max" else stacked.mean(0)
    torch.testing.assert_close(got[0], want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1], short[0], atol=1e-5, rtol=1e-5)


def test_functions_that_fit_are_encoded_as_without_windows() -> None:
    """Rows no longer than max_length: the windowed model gives the head-only model's exact
    numbers (the same weights), in eval (first-token path) and in the full forward."""
    ids, mask = _ids([10, 4, 9])
    windowed, head = _model(4), _model(1)
    head.load_state_dict(windowed.state_dict())
    with torch.inference_mode():
        for full in (False, True):
            a = windowed.embed_tokens(ids, mask, full=full)
            b = head.embed_tokens(ids, mask, full=full)
            assert torch.equal(a, b)


def test_eval_fast_path_matches_full_forward_on_windows() -> None:
    model = _model(4)
    ids, mask = _ids([25, 13, 6])
    with torch.inference_mode():
        fast = model.embed_tokens(ids, mask)
        full = model.embed_tokens(ids, mask, full=True)
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)


def test_gradients_flow_through_the_pool() -> None:
    model = _model(3).train()
    ids, mask = _ids([25, 6])
    model.embed_tokens(ids, mask).sum().backward()
    grad = model.encoder.embeddings.word_embeddings.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0


def test_old_checkpoint_spec_reads_head_only() -> None:
    spec = WindowSpec.from_spec({"max_length": 256})
    assert spec == WindowSpec(max_length=256, max_windows=1, stride=192, pooling="max")


@pytest.mark.parametrize(
    ("windows", "error"),
    [
        (
            {"max_windows": 2, "stride": 63},
            "transformer.windows.stride: 63 leaves tokens unread between windows "
            "(at most max_length - 2 = 62)",
        ),
        ({"max_windows": 0}, "transformer.windows.max_windows"),
        ({"pooling": "attention"}, "transformer.windows.pooling"),
    ],
)
def test_bad_window_params_are_one_line(windows: dict, error: str) -> None:
    with pytest.raises(ConfigError, match="^" + error.replace("(", r"\(").replace(")", r"\)")):
        resolve(tiny_params(transformer={"windows": windows}))


def test_max_tokens_is_the_windows_reach() -> None:
    cfg = resolve(tiny_params(transformer={"windows": {"max_windows": 3, "stride": 40}}))
    assert cfg.transformer.max_tokens == 64 + 2 * 40
    assert resolve(tiny_params()).transformer.max_tokens == 64


@pytest.fixture(scope="module")
def windowed_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """prepare → featurize → train_transformer (seed 0) with 3 windows of 64 tokens."""
    import os

    from tests.helpers import mlflow_state_restored
    from vulnfusion.data.prepare import prepare
    from vulnfusion.featurize import featurize
    from vulnfusion.runs.branch import train_branch

    root = tmp_path_factory.mktemp("windows")
    # identifier normalisation on as well: the served path must apply both as training did
    raw = tiny_params(
        seeds=[0],
        transformer={"windows": {"max_windows": 3, "stride": 40}},
        featurize={"normalize_identifiers": True, "dataflow_features": True},
    )
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = resolve(raw)
    prepare(cfg, root / "prepared")
    featurize(cfg, root / "prepared", root / "features")
    with mlflow_state_restored():
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        metrics = train_branch(cfg, "transformer", 0, root / "features", root / "seed_0", "test")
        gnn = train_branch(cfg, "gnn", 0, root / "features", root / "gnn_0", "test")
    return {"root": root, "metrics": metrics, "gnn_metrics": gnn}


def test_featurize_keeps_the_windows_reach(windowed_run: dict) -> None:
    from vulnfusion.features import load_split

    root = windowed_run["root"]
    lengths = np.diff(load_split(root / "features/test.safetensors").arrays["tok_ptr"])
    assert lengths.max() == 144 and (lengths > 64).any()
    vocab = json.loads((root / "features/graph_vocab.json").read_text())
    assert "VAR0" in json.dumps(vocab) and "FUNC" in json.dumps(vocab)  # names normalised
    stats = json.loads((root / "features/stats.json").read_text())["splits"]["test"]
    assert stats["token_windowed_rate"] == round(float((lengths > 64).mean()), 4)
    assert stats["token_truncated_rate"] == round(float((lengths >= 144).mean()), 4)


def test_windowed_checkpoint_scores_raw_text_as_the_stage_did(windowed_run: dict) -> None:
    """The checkpoint records its windows; raw text encoded to the windows' reach and scored
    through the reloaded model gives the stage's test logits (the served path's parity)."""
    from vulnfusion.models.build import load_model

    root = windowed_run["root"]
    model, meta = load_model(root / "seed_0")
    assert meta["model"]["windows"] == {"max_windows": 3, "stride": 40, "pooling": "max"}
    assert model.windows == WindowSpec(64, 3, 40, "max")
    rows = [json.loads(x) for x in (root / "prepared/test.jsonl").read_text().splitlines()]
    got = score_functions(root / "seed_0", root / "features", [r["func"] for r in rows])
    want = json.loads((root / "seed_0/logits.json").read_text())["test"]
    assert len(want) == len(rows)
    np.testing.assert_allclose(got, [want[r["id"]] for r in rows], atol=1e-5)


@pytest.fixture(scope="module")
def windowed_scorer(windowed_run: dict, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The served scorer over a bundle of the windowed seed (spec from the registry code)."""
    import shutil

    from vulnfusion.config import load_config
    from vulnfusion.registry import serving_spec
    from vulnfusion.serving import SPEC_FILE, EnsembleScorer

    root = windowed_run["root"]
    scorers = {}
    for track, seed_dir, metrics in (
        ("transformer", root / "seed_0", windowed_run["metrics"]),
        ("gnn", root / "gnn_0", windowed_run["gnn_metrics"]),
    ):
        bundle = tmp_path_factory.mktemp(f"bundle-{track}")
        shutil.copytree(seed_dir, bundle / "seeds/seed_0")
        shutil.copytree(root / "features/tokenizer", bundle / "tokenizer")
        shutil.copy2(root / "features/graph_vocab.json", bundle / "graph_vocab.json")
        cfg = load_config(root / "params.yaml")
        spec = serving_spec(cfg, {**metrics, "seeds": [0]})  # a one-seed ensemble
        assert (spec.max_tokens, spec.max_length) == (144, 64)
        assert spec.normalize_identifiers and spec.dataflow_features
        spec.to_json(bundle / SPEC_FILE)
        scorers[track] = EnsembleScorer(bundle)
    return scorers


@pytest.mark.parametrize("track", ["transformer", "gnn"])
def test_served_scorer_reads_as_featurize_did(
    windowed_run: dict, windowed_scorer, track: str
) -> None:  # type: ignore[no-untyped-def]
    """Windows, normalised names and data-flow nodes: the served scorer, given raw text,
    reproduces the stage's test logits of the transformer and of the GNN."""
    root = windowed_run["root"]
    rows = [json.loads(x) for x in (root / "prepared/test.jsonl").read_text().splitlines()]
    got = windowed_scorer[track].logits([r["func"] for r in rows])
    seed_dir = root / ("seed_0" if track == "transformer" else "gnn_0")
    want = json.loads((seed_dir / "logits.json").read_text())["test"]
    np.testing.assert_allclose(got, [want[r["id"]] for r in rows], atol=1e-5)


@pytest.mark.parametrize("method", ["gradient_x_input", "integrated_gradients"])
def test_gradient_attributions_reach_past_the_first_window(
    windowed_run: dict,
    windowed_scorer,  # type: ignore[no-untyped-def]
    method: str,
) -> None:
    """Gradients through windows: every token the windows read gets its attribution
    (summed over the windows that read it), so lines past the first 64 tokens can rank."""
    from vulnfusion.localization.attribution import gxi_token_scores, ig_token_scores

    root = windowed_run["root"]
    funcs = [json.loads(x)["func"] for x in (root / "prepared/test.jsonl").read_text().splitlines()]
    func = max(funcs, key=len)
    if method == "gradient_x_input":
        ids, scores = gxi_token_scores(windowed_scorer["transformer"], func)
    else:
        ids, scores = ig_token_scores(windowed_scorer["transformer"], func, steps=8)
    assert len(ids) == 144 and scores.shape == (144,)
    assert np.count_nonzero(scores[64:-1]) == len(scores[64:-1])
