"""The `ablation` bench section's scoring (benchmarks/bench/ablation.py) on a hand-made
workspace: exact ROC-AUCs overall and on the whole/truncated groups, epoch time, and the
variant filter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import ROOT, tiny_params
from vulnfusion.features import SplitFeatures, save_split


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))


def _split(ids: list[str], labels: list[int], lengths: list[int]) -> SplitFeatures:
    ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrays = {
        "labels": np.asarray(labels, dtype=np.int64),
        "tok_ptr": ptr,
        "tok_ids": np.zeros(int(ptr[-1]), dtype=np.int32),
    }
    return SplitFeatures(ids, arrays)


def test_variant_scores_exact(tmp_path: Path) -> None:
    from bench.ablation import variant_scores

    ws, seed = tmp_path / "ws", tmp_path / "seed_0"
    (ws / "data/features").mkdir(parents=True)
    seed.mkdir()
    (ws / "params.yaml").write_text(yaml.safe_dump(tiny_params()))  # max_length 64
    save_split(ws / "data/features/valid.safetensors", _split(["v0", "v1"], [0, 1], [10, 10]))
    # test: a, b whole (< 64 tokens), c, d, e truncated (>= 64)
    test = _split(list("abcde"), [0, 1, 0, 1, 1], [10, 63, 64, 90, 200])
    save_split(ws / "data/features/test.safetensors", test)
    logits = {
        "valid": {"v0": -1.0, "v1": 1.0},
        # whole: perfectly ranked; truncated: c (0) above d (1), below e (1) -> 1/2
        "test": {"a": -2.0, "b": 2.0, "c": 0.5, "d": 0.0, "e": 1.0},
    }
    (seed / "logits.json").write_text(json.dumps(logits))
    (seed / "history.csv").write_text("epoch,epoch_s\n0,10.5\n1,20.25\n")
    got = variant_scores(ws, seed)
    assert got["valid_roc_auc"] == 1.0
    assert got["whole_roc_auc"] == 1.0
    assert got["truncated_roc_auc"] == 0.5
    assert got["roc_auc"] == pytest.approx(5 / 6)  # 5 of the 6 (neg, pos) pairs in order
    assert got["n_truncated"] == 3 and got["epochs_s"] == 30.8
    lo, hi = got["roc_auc_ci"]
    assert 0.0 <= lo <= got["roc_auc"] <= hi <= 1.0


def test_variant_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.ablation import ENV, VARIANTS, chosen

    monkeypatch.delenv(ENV, raising=False)
    assert chosen() == list(VARIANTS)
    monkeypatch.setenv(ENV, "gnn_base, gnn_dataflow")
    assert chosen() == ["gnn_base", "gnn_dataflow"]
    monkeypatch.setenv(ENV, "gnn_base,nope")
    with pytest.raises(
        ValueError, match=r"^VULNFUSION_BENCH_ABLATION: unknown variant\(s\) \['nope'\]"
    ):
        chosen()


@pytest.mark.parametrize(
    ("preset", "reused"),
    [
        # the devign preset reads 3 mean-pooled windows and has data-flow nodes
        ("devign", {"transformer_windows_mean", "gnn_dataflow"}),
        # the demo preset is head-only, without data-flow nodes
        ("demo", {"transformer_base", "gnn_base"}),
    ],
)
def test_variants_the_pipeline_already_trained(
    tmp_path: Path, preset: str, reused: set[str]
) -> None:
    from bench.ablation import VARIANTS, is_pipeline_config

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["preset"] = preset
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    got = {name for name, (_, sets) in VARIANTS.items() if is_pipeline_config(tmp_path, sets)}
    assert got == reused
