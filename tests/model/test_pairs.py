"""The fusion head's pair-wise ranking loss on vulnerable/fixed twins (``fusion.pairs``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vulnfusion.batching import BatchLayout
from vulnfusion.config import ConfigError, load_config
from vulnfusion.data.demo import generate_demo_pairs
from vulnfusion.data.demo.heldout import DEFAULT_SEED as HELDOUT_SEED
from vulnfusion.models.build import load_model
from vulnfusion.runs.fusion import train_fusion, twin_features
from vulnfusion.training import pair_loss

pytestmark = pytest.mark.usefixtures("mlflow_env")

PAIRS_ON = ("fusion.pairs.source=demo", "fusion.pairs.n_pairs=120", "fusion.pairs.weight=3.0")


def _run(ws: Path, out: Path, *over: str, cache: bool = True) -> dict:
    cfg = load_config(ws / "params.yaml", list(over))
    return train_fusion(
        cfg,
        0,
        ws / "data/features",
        out,
        ws / "outputs/transformer/seed_0",
        ws / "outputs/gnn/seed_0",
        out.parent / "cache" if cache else None,
        "test",
    )


def test_pair_loss_is_softplus_of_margin_minus_the_gap() -> None:
    z_vul, z_fix = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([0.0, 0.0, 3.0])
    got = float(pair_loss(z_vul, z_fix, margin=1.0))
    want = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(1.0)) + math.log1p(math.exp(5.0))) / 3
    assert got == pytest.approx(want, rel=1e-6)
    assert float(pair_loss(z_vul, z_fix, margin=0.0)) < got  # a margin asks for a wider gap


def test_twins_are_read_with_the_stage_vocabulary(trained_workspace: Path) -> None:
    cfg = load_config(trained_workspace / "params.yaml", list(PAIRS_ON))
    twins = twin_features(cfg, trained_workspace / "data/features")
    assert twins is not None and len(twins) == 240
    assert twins.arrays["labels"].tolist() == [1] * 120 + [0] * 120
    tok_lengths = np.diff(twins.arrays["tok_ptr"])
    assert tok_lengths.min() > 2 and tok_lengths.max() <= cfg.transformer.max_tokens
    assert np.diff(twins.arrays["node_ptr"]).min() > 10  # real graphs, not empty ones
    off = load_config(trained_workspace / "params.yaml", ["fusion.pairs.source=demo"])
    assert twin_features(off, trained_workspace / "data/features") is None  # weight 0: off


def test_training_twins_are_neither_heldout_twins_nor_corpus() -> None:
    """The held-out demo twins (the pair figure the weight is chosen on) and the demo corpus
    (``make run``'s training data) share no text with the twins the loss trains on."""
    from vulnfusion.data.demo import generate_demo

    train = {t for _, v, f in generate_demo_pairs(800, 101) for t in (v, f)}
    heldout = {t for _, v, f in generate_demo_pairs(200, HELDOUT_SEED) for t in (v, f)}
    corpus = {str(r["func"]) for r in generate_demo(1600, 13)}
    assert len(train) == 1600
    assert not train & heldout
    assert not train & corpus


def test_vulnerable_versions_come_first(trained_workspace: Path) -> None:
    """Row k is pair k's vulnerable version, row P + k its fix (the loss pushes rows k up)."""
    from vulnfusion.tokenization import encode, load_tokenizer_dir

    cfg = load_config(trained_workspace / "params.yaml", list(PAIRS_ON))
    twins = twin_features(cfg, trained_workspace / "data/features")
    assert twins is not None
    (_, vul, fix), *_ = generate_demo_pairs(120, 101)
    tok = load_tokenizer_dir(trained_workspace / "data/features/tokenizer")
    ids_vul, ids_fix = encode(tok, [vul, fix], cfg.transformer.max_tokens)
    ptr, ids = twins.arrays["tok_ptr"], twins.arrays["tok_ids"]
    assert ids[ptr[0] : ptr[1]].tolist() == ids_vul
    assert ids[ptr[120] : ptr[121]].tolist() == ids_fix


def test_augmented_copies_follow_the_originals(trained_workspace: Path) -> None:
    """``augment: 2``: P = 3 · n_pairs rows per side; the originals first, read exactly as
    without augmentation, then the edited copies (texts of ``augment_pairs``)."""
    from vulnfusion.graphs.edits import augment_pairs

    feats = trained_workspace / "data/features"
    plain = twin_features(load_config(trained_workspace / "params.yaml", list(PAIRS_ON)), feats)
    cfg = load_config(trained_workspace / "params.yaml", [*PAIRS_ON, "fusion.pairs.augment=2"])
    aug = twin_features(cfg, feats)
    assert plain is not None and aug is not None and len(aug) == 720
    assert aug.arrays["labels"].tolist() == [1] * 360 + [0] * 360
    p_ptr, a_ptr = plain.arrays["tok_ptr"], aug.arrays["tok_ptr"]

    def ids(split: object, ptr: np.ndarray, row: int) -> list[int]:
        return split.arrays["tok_ids"][ptr[row] : ptr[row + 1]].tolist()  # type: ignore[attr-defined]

    for k in (0, 57, 119):  # originals: vulnerable at k, fix at P + k, as without augment
        assert ids(aug, a_ptr, k) == ids(plain, p_ptr, k)
        assert ids(aug, a_ptr, 360 + k) == ids(plain, p_ptr, 120 + k)
    from vulnfusion.tokenization import encode, load_tokenizer_dir

    base = [(v, f) for _, v, f in generate_demo_pairs(120, 101)]
    vul, fix = augment_pairs(base, 2, 101)[120 + 5]  # copy 1 of pair 5
    assert (vul, fix) != base[5]
    tok = load_tokenizer_dir(feats / "tokenizer")
    want_vul, want_fix = encode(tok, [vul, fix], cfg.transformer.max_tokens)
    assert ids(aug, a_ptr, 125) == want_vul
    assert ids(aug, a_ptr, 360 + 125) == want_fix


def test_twins_read_otherwise_than_the_branches_is_a_one_line_error(
    trained_workspace: Path, tmp_path: Path
) -> None:
    from vulnfusion.errors import StageError

    with pytest.raises(StageError, match=r"featurize\.max_nodes=20") as err:
        _run(trained_workspace, tmp_path / "other", *PAIRS_ON, "featurize.max_nodes=20")
    assert "\n" not in str(err.value)


def _head_fit(ws: Path, pairs_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """A fusion head trained by the real Trainer on cached branch features built so that the
    label lives in feature 0 and the twins differ only in feature 1, which carries nothing
    about the label; returns the twins' (vulnerable, fixed) logits."""
    from vulnfusion.features import SplitFeatures, load_features
    from vulnfusion.models.fusion import FusionClassifier
    from vulnfusion.training import PairObjective, Trainer, seed_everything

    over = ["fusion.train.epochs=40", "fusion.train.patience=0", "fusion.train.lr=0.01"]
    cfg = load_config(ws / "params.yaml", over)
    feats = load_features(ws / "data/features")
    t, _ = load_model(ws / "outputs/transformer/seed_0")
    g, _ = load_model(ws / "outputs/gnn/seed_0")
    rng = np.random.default_rng(0)

    def cached(split: SplitFeatures, shift: np.ndarray | None = None) -> dict[str, np.ndarray]:
        n = len(split)
        t_emb = rng.normal(size=(n, t.embed_dim)).astype(np.float32)
        t_emb[:, 0] += 2.0 * split.arrays["labels"]
        if shift is not None:
            t_emb[:, 1] = shift
        return {"t_emb": t_emb, "g_emb": rng.normal(size=(n, g.embed_dim)).astype(np.float32)}

    train, valid = feats.splits["train"], feats.splits["valid"]
    n_pairs = len(train) // 2
    twin_rows = SplitFeatures(train.ids[: 2 * n_pairs], train.arrays)  # texts are not read
    shift = np.r_[np.ones(n_pairs), -np.ones(n_pairs)].astype(np.float32)
    twins = cached(twin_rows, shift)
    twins["t_emb"][n_pairs:, 2:] = twins["t_emb"][:n_pairs, 2:]  # otherwise the same
    twins["g_emb"][n_pairs:] = twins["g_emb"][:n_pairs]
    seed_everything(0)
    model = FusionClassifier(t, g, t.embed_dim, g.embed_dim, 32, 0.2)
    pairs = PairObjective(twin_rows, pairs_weight, 1.0, 16, twins) if pairs_weight else None
    layout = BatchLayout(tokens=False, graphs=False, lengths="tokens")
    trainer = Trainer(
        model,
        layout,
        cfg.fusion.train,
        0,
        train,
        valid,
        cached={"train": cached(train), "valid": cached(valid)},
        pairs=pairs,
    )
    trainer.fit()  # the weights after the last epoch (the best-F1 epoch may be the first)
    model.eval()
    with torch.no_grad():
        z = model.head(
            torch.cat([torch.from_numpy(twins["t_emb"]), torch.from_numpy(twins["g_emb"])], 1)
        )
    z = z.squeeze(-1).numpy()
    return z[:n_pairs], z[n_pairs:]


def test_the_pair_loss_learns_what_tells_twins_apart(trained_workspace: Path) -> None:
    """Without pairs the head has no reason to weigh the feature the twins differ in (it weighs
    it as noise, either way); with them, every vulnerable twin scores above its fix by more
    than the margin."""
    v0, f0 = _head_fit(trained_workspace, 0.0)
    v1, f1 = _head_fit(trained_workspace, 1.0)
    assert float(np.mean(v0 > f0)) < 0.9  # measured: 0.34 (the noise it fitted)
    assert float(np.mean(v1 > f1)) == 1.0
    assert float(np.mean(v1 - f1)) > 1.0  # the margin is 1 logit (measured: 3.6)


def test_the_pipeline_records_and_applies_the_pairs(
    trained_workspace: Path, tmp_path: Path
) -> None:
    plain = _run(trained_workspace, tmp_path / "plain")
    paired = _run(trained_workspace, tmp_path / "paired", *PAIRS_ON)
    assert "pairs" not in plain
    assert paired["pairs"] == {
        "source": "demo",
        "n_pairs": 120,
        "min_similarity": 0.9,
        "seed": 101,
        "weight": 3.0,
        "margin": 1.0,
        "batch_size": 32,
        "augment": 0,
        "n_used": 120,
    }
    meta = json.loads((tmp_path / "paired/checkpoint.json").read_text())
    assert meta["pairs"]["weight"] == 3.0  # recorded with the checkpoint too
    la = json.loads((tmp_path / "plain/logits.json").read_text())["test"]
    lb = json.loads((tmp_path / "paired/logits.json").read_text())["test"]
    assert max(abs(la[k] - lb[k]) for k in la) > 1e-3  # the loss changed the head


def test_cached_and_uncached_twins_train_the_same_head(
    trained_workspace: Path, tmp_path: Path
) -> None:
    a = _run(trained_workspace, tmp_path / "cached", *PAIRS_ON, cache=True)
    b = _run(trained_workspace, tmp_path / "uncached", *PAIRS_ON, cache=False)
    assert a["best_epoch"] == b["best_epoch"]
    la = json.loads((tmp_path / "cached/logits.json").read_text())["test"]
    lb = json.loads((tmp_path / "uncached/logits.json").read_text())["test"]
    assert max(abs(la[k] - lb[k]) for k in la) < 1e-4
    assert len(list((tmp_path / "cache").glob("*-pairs-demo-120x1-101-*.safetensors"))) == 2


@pytest.mark.parametrize(
    "override, key",
    [
        ("fusion.pairs.source=cvepairs", "fusion.pairs.source"),
        ("fusion.pairs.weight=-1", "fusion.pairs.weight"),
        ("fusion.pairs.n_pairs=0", "fusion.pairs.n_pairs"),
        ("fusion.pairs.batch_size=0", "fusion.pairs.batch_size"),
        ("fusion.pairs.augment=-1", "fusion.pairs.augment"),
        ("fusion.pairs.augment=17", "fusion.pairs.augment"),
        ("fusion.pairs.augment=2", "fusion.pairs.augment"),  # no source: nothing to edit
        ("fusion.pairs.seed=-1", "fusion.pairs.seed"),
        ("fusion.pairs.weight=1", "fusion.pairs.weight"),  # no source: it would do nothing
    ],
)
def test_bad_pair_settings_are_one_line_errors(
    trained_workspace: Path, override: str, key: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(trained_workspace / "params.yaml", [override])
    assert key in str(err.value) and "\n" not in str(err.value)


def test_pairs_under_torchrun_is_a_one_line_error(
    trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vulnfusion.errors import StageError

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(StageError, match=r"fusion\.pairs") as err:
        _run(trained_workspace, tmp_path / "ddp", *PAIRS_ON)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------- pairs mined from train

MINED_ON = ("fusion.pairs.source=train", "fusion.pairs.weight=3.0")


def _planted(ws: Path, dst: Path, n: int) -> tuple[Path, list[tuple[str, str]]]:
    """A copy of ``ws``'s prepared and featurized data whose train split holds ``n``
    vulnerable/fixed pairs: n non-vulnerable rows rewritten as a one-line fix of a vulnerable
    row (the features are the originals': the mining reads texts, the loss reads features)."""
    import shutil

    from vulnfusion.io import read_jsonl, write_jsonl

    for part in ("prepared", "features"):
        shutil.copytree(ws / "data" / part, dst / "data" / part)
    path = dst / "data/prepared/train.jsonl"
    rows = read_jsonl(path)
    vul = [r for r in rows if r["target"] == 1][:n]
    fix = [r for r in rows if r["target"] == 0][:n]
    for v, f in zip(vul, fix, strict=True):
        f["func"] = v["func"].replace("{", "{\n    if (!ctx) return -1;", 1)
        f["project"] = v.get("project")
    write_jsonl(path, rows)
    return dst / "data/features", [(v["id"], f["id"]) for v, f in zip(vul, fix, strict=True)]


def test_mined_pairs_are_rows_of_the_train_split(trained_workspace: Path, tmp_path: Path) -> None:
    """``source: train``: the pairs are the planted ones (vulnerable rows first), read from
    the train split's own features and cache: no twin is featurized."""
    from vulnfusion.features import load_features
    from vulnfusion.runs.fusion import mined_pair_objective

    feats_dir, planted = _planted(trained_workspace, tmp_path, 6)
    cfg = load_config(trained_workspace / "params.yaml", [*MINED_ON, "fusion.pairs.n_pairs=4"])
    feats = load_features(feats_dir)
    cached = {"t_emb": np.zeros((len(feats.splits["train"]), 3), np.float32)}
    obj = mined_pair_objective(cfg, feats_dir, feats, cached)
    assert obj.feats is feats.splits["train"] and obj.cached is cached
    assert obj.n_pairs == 4  # n_pairs caps the mined 6
    ids = feats.splits["train"].ids
    got = {(ids[obj.rows[k]], ids[obj.rows[4 + k]]) for k in range(4)}
    assert got < set(planted)
    assert not list(tmp_path.rglob("*-pairs-*.safetensors"))


def test_the_pipeline_trains_on_mined_pairs(trained_workspace: Path, tmp_path: Path) -> None:
    feats_dir, planted = _planted(trained_workspace, tmp_path / "ws", 5)
    cfg = load_config(trained_workspace / "params.yaml", list(MINED_ON))
    runs = {}
    for name, c in (("plain", load_config(trained_workspace / "params.yaml")), ("mined", cfg)):
        runs[name] = train_fusion(
            c,
            0,
            feats_dir,
            tmp_path / name,
            trained_workspace / "outputs/transformer/seed_0",
            trained_workspace / "outputs/gnn/seed_0",
            tmp_path / "cache",
            "test",
        )
    assert runs["mined"]["pairs"]["source"] == "train"
    assert runs["mined"]["pairs"]["min_similarity"] == 0.9
    assert runs["mined"]["pairs"]["n_used"] == len(planted) == 5
    la = json.loads((tmp_path / "plain/logits.json").read_text())["test"]
    lb = json.loads((tmp_path / "mined/logits.json").read_text())["test"]
    assert max(abs(la[k] - lb[k]) for k in la) > 1e-3  # the loss changed the head


def test_no_mined_pair_is_a_one_line_error(trained_workspace: Path, tmp_path: Path) -> None:
    """The demo corpus has no function and its fix under one name: say so, and what to do."""
    from vulnfusion.errors import StageError

    with pytest.raises(StageError, match=r"fusion\.pairs\.source train: no vulnerable/fixed") as e:
        _run(trained_workspace, tmp_path / "none", *MINED_ON)
    assert "min_similarity" in str(e.value) and "\n" not in str(e.value)


def test_mined_pairs_without_the_prepared_split_is_a_one_line_error(
    trained_workspace: Path, tmp_path: Path
) -> None:
    import shutil

    from vulnfusion.errors import StageError
    from vulnfusion.features import load_features
    from vulnfusion.runs.fusion import mined_pair_objective

    shutil.copytree(trained_workspace / "data/features", tmp_path / "data/features")
    feats = load_features(tmp_path / "data/features")
    cfg = load_config(trained_workspace / "params.yaml", list(MINED_ON))
    with pytest.raises(StageError, match=r"prepared/train\.jsonl not found") as e:
        mined_pair_objective(cfg, tmp_path / "data/features", feats, None)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "override, key",
    [
        ("fusion.pairs.min_similarity=1.5", "fusion.pairs.min_similarity"),
        ("fusion.pairs.min_similarity=-0.1", "fusion.pairs.min_similarity"),
    ],
)
def test_bad_mining_settings_are_one_line_errors(
    trained_workspace: Path, override: str, key: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(trained_workspace / "params.yaml", [*MINED_ON, override])
    assert key in str(err.value) and "\n" not in str(err.value)


def test_mined_pairs_are_not_augmented(trained_workspace: Path) -> None:
    with pytest.raises(ConfigError, match=r"fusion\.pairs\.augment=1: edits demo twins only"):
        load_config(trained_workspace / "params.yaml", [*MINED_ON, "fusion.pairs.augment=1"])
