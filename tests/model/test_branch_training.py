"""Real (tiny) training runs: determinism, resume after a crash, the hub-model path, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import run_script
from vulnfusion.config import load_config
from vulnfusion.features import load_features
from vulnfusion.models.build import load_model
from vulnfusion.paths import resume_path_for
from vulnfusion.runs.branch import train_branch
from vulnfusion.runs.scoring import recompute_logits

pytestmark = pytest.mark.usefixtures("mlflow_env")


def _cfg(ws: Path, *over: str):
    return load_config(ws / "params.yaml", list(over))


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("track", ["gnn", "transformer"])
def test_same_seed_gives_identical_metrics(
    tiny_workspace: Path, tmp_path: Path, track: str
) -> None:
    cfg = _cfg(tiny_workspace)
    feats = tiny_workspace / "data/features"
    a = train_branch(cfg, track, 0, feats, tmp_path / "a", "test")
    b = train_branch(cfg, track, 0, feats, tmp_path / "b", "test")
    assert a == b
    assert (tmp_path / "a/metrics.json").read_text() == (tmp_path / "b/metrics.json").read_text()
    for key in (
        "f1_at_0_5",
        "f1_at_best_threshold",
        "best_threshold_by_f1",
        "threshold_sweep",
        "confusion_matrix_at_best_threshold",
        "test",
    ):
        assert key in a
    assert len(a["threshold_sweep"]) == 41
    logits = json.loads((tmp_path / "a/logits.json").read_text())
    assert set(logits) == {"valid", "test"}
    assert len(logits["valid"]) == a["valid"]["n"] and len(logits["test"]) == a["test"]["n"]


def test_seed_sets_every_logit(trained_workspace: Path, tmp_path: Path) -> None:
    """A run is a function of its seed: seed 1 retrained here reproduces the session's seed-1
    run exactly, and differs from seed 0's on every one of the valid rows."""
    cfg = _cfg(trained_workspace)
    train_branch(cfg, "gnn", 1, trained_workspace / "data/features", tmp_path / "b", "test")
    session = trained_workspace / "outputs/gnn"
    seed0 = json.loads((session / "seed_0/logits.json").read_text())["valid"]
    seed1 = json.loads((session / "seed_1/logits.json").read_text())["valid"]
    again = json.loads((tmp_path / "b/logits.json").read_text())["valid"]
    assert again == seed1
    assert len(seed0) == 16
    assert sum(seed0[k] != again[k] for k in seed0) == 16


def test_resume_after_crash_matches_uninterrupted(
    tiny_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _cfg(tiny_workspace, "gnn.train.epochs=3", "gnn.train.patience=0")
    feats = tiny_workspace / "data/features"
    ref = train_branch(cfg, "gnn", 0, feats, tmp_path / "ref", "test")

    import vulnfusion.training as training

    real = training.Trainer._save_resume

    def crash_after_first_epoch(self, state, best):  # type: ignore[no-untyped-def]
        real(self, state, best)
        if state.epoch == 1:
            raise KeyboardInterrupt("simulated kill after epoch 1")

    out = tmp_path / "run"
    monkeypatch.setattr(training.Trainer, "_save_resume", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_branch(cfg, "gnn", 0, feats, out, "test")
    assert resume_path_for(out).exists() and not (out / "metrics.json").exists()
    monkeypatch.setattr(training.Trainer, "_save_resume", real)
    resumed = train_branch(cfg, "gnn", 0, feats, out, "test")
    assert resumed == ref
    assert not resume_path_for(out).exists()  # cleaned up after success


def test_checkpoint_reloads_with_recorded_config(tiny_workspace: Path, tmp_path: Path) -> None:
    from vulnfusion.batching import BatchLayout
    from vulnfusion.runs.scoring import score_splits

    cfg = _cfg(tiny_workspace)
    feats_dir = tiny_workspace / "data/features"
    train_branch(cfg, "transformer", 0, feats_dir, tmp_path / "t", "test")
    model, meta = load_model(tmp_path / "t" / "model.safetensors")
    assert meta["model"]["hf_config"]["hidden_size"] == cfg.transformer.scratch.hidden_size
    assert meta["git_commit"] and meta["data_hash"] and meta["config"]["seeds"] == [0, 1]
    feats = load_features(feats_dir)
    logits = score_splits(
        model,
        BatchLayout.for_track("transformer"),
        feats,
        cfg.transformer.train,
        torch.device("cpu"),
    )
    saved = json.loads((tmp_path / "t/logits.json").read_text())["valid"]
    np.testing.assert_allclose(
        logits["valid"], [saved[i] for i in feats.splits["valid"].ids], rtol=1e-5, atol=1e-5
    )


def test_hub_model_from_local_save_pretrained_dir(tiny_workspace: Path, tmp_path: Path) -> None:
    """The pretrained path, offline: a tiny RoBERTa + tokenizer saved with save_pretrained."""
    from transformers import RobertaConfig, RobertaModel

    from vulnfusion.featurize import featurize
    from vulnfusion.tokenization import load_tokenizer_dir

    hub = tmp_path / "tiny-roberta"
    tok = load_tokenizer_dir(tiny_workspace / "data/features/tokenizer")
    tok.save_pretrained(hub)
    conf = RobertaConfig(
        vocab_size=len(tok),
        hidden_size=24,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=80,
        pad_token_id=tok.pad_token_id,
    )
    RobertaModel(conf).save_pretrained(hub)

    cfg = _cfg(tiny_workspace, f"transformer.model_name={hub}", "transformer.train.epochs=1")
    ws = tmp_path / "ws"
    shutil.copytree(tiny_workspace / "data/prepared", ws / "data/prepared")
    featurize(cfg, ws / "data/prepared", ws / "data/features")
    m = train_branch(cfg, "transformer", 0, ws / "data/features", ws / "out", "test")
    assert (m["valid"]["n"], m["test"]["n"]) == (16, 16)
    # the saved hub-model checkpoint, reloaded and rescored, gives the logits the run wrote
    rescored = recompute_logits(ws / "out", load_features(ws / "data/features"))
    written = json.loads((ws / "out/logits.json").read_text())
    for split in ("valid", "test"):
        assert rescored[split] == pytest.approx(written[split], rel=1e-5, abs=1e-5)
    meta = json.loads((ws / "out/checkpoint.json").read_text())
    assert meta["model"]["hf_config"]["hidden_size"] == 24 and meta["model"]["source"] == str(hub)
    model, _ = load_model(ws / "out")
    assert model.embed_dim == 24


def test_unavailable_hub_model_is_one_line(tiny_workspace: Path, tmp_path: Path) -> None:
    res = run_script(
        "featurize.py",
        "--set",
        "transformer.model_name=codebert",
        "--prepared-dir",
        str(tiny_workspace / "data/prepared"),
        "--output-dir",
        str(tmp_path / "f"),
        cwd=tiny_workspace,
        env={"HF_HOME": str(tmp_path / "hf")},
    )
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: transformer.model_name='codebert'")
    assert "microsoft/codebert-base" in last and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--features-dir", "nope"], "features not found"),
        (["--lr", "-1"], "transformer.train.lr: -1.0 is below the minimum"),
        (["--set", "transformer.train.scheduler=step"], "'step' is not one of"),
    ],
)
def test_stage_errors_are_one_line(
    tiny_workspace: Path, tmp_path: Path, args: list[str], fragment: str
) -> None:
    res = run_script(
        "train_transformer.py",
        "--seed",
        "0",
        "--output-dir",
        str(tmp_path / "o"),
        "--features-dir",
        str(tiny_workspace / "data/features"),
        *args,
        cwd=tiny_workspace,
    )
    assert res.returncode == 2, res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and fragment in last and "Traceback" not in res.stderr


@pytest.mark.reliability
def test_unreachable_tracking_server_fails_before_training(
    tiny_workspace: Path, tmp_path: Path, reliability: object
) -> None:
    res = run_script(
        "train_gnn.py",
        "--seed",
        "0",
        "--output-dir",
        str(tmp_path / "o"),
        "--features-dir",
        str(tiny_workspace / "data/features"),
        cwd=tiny_workspace,
        env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
    )  # nothing listens on 9
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: MLflow tracking store http://127.0.0.1:9 is not usable")
    assert "epoch 1/" not in res.stderr and not (tmp_path / "o" / "metrics.json").exists()
    reliability(
        "configured tracking server is down (MLFLOW_TRACKING_URI=http://127.0.0.1:9)",
        f"exit 2 before the first epoch: {last}",
    )


@pytest.mark.reliability
def test_unwritable_output_dir_fails_before_any_work(
    tiny_workspace: Path, tmp_path: Path, reliability: object
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = run_script(
        "train_gnn.py",
        "--seed",
        "0",
        "--output-dir",
        str(blocker / "out"),
        "--features-dir",
        str(tiny_workspace / "data/features"),
        cwd=tiny_workspace,
    )
    assert res.returncode == 2
    assert "output directory is not writable" in res.stderr.strip().splitlines()[-1]
    assert "epoch" not in res.stderr
    reliability(
        "output directory cannot be written (a file in its path)",
        f"exit 2 before any work: {res.stderr.strip().splitlines()[-1]}",
    )
