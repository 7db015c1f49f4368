"""Fusion: cached vs uncached parity, degrade paths, flags honoured, the quick-run example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_script
from vulnfusion.cli import StageError
from vulnfusion.config import load_config
from vulnfusion.fusion import train_fusion

pytestmark = pytest.mark.usefixtures("mlflow_env")


def _branches(ws: Path, seed: int = 0) -> tuple[Path, Path]:
    return ws / f"outputs/transformer/seed_{seed}", ws / f"outputs/gnn/seed_{seed}"


def _run(
    ws: Path,
    out: Path,
    *over: str,
    cache: bool = True,
    t: Path | None = None,
    g: Path | None = None,
) -> dict:
    cfg = load_config(ws / "params.yaml", list(over))
    bt, bg = _branches(ws)
    return train_fusion(
        cfg,
        0,
        ws / "data/features",
        out,
        t or bt,
        g or bg,
        out.parent / "cache" if cache else None,
        "test",
    )


def test_cached_and_uncached_give_the_same_metrics(trained_workspace: Path, tmp_path: Path) -> None:
    a = _run(trained_workspace, tmp_path / "cached", cache=True)
    b = _run(trained_workspace, tmp_path / "uncached", cache=False)
    assert a["best_epoch"] == b["best_epoch"]
    assert a["f1_at_best_threshold"] == pytest.approx(b["f1_at_best_threshold"], abs=1e-6)
    la = json.loads((tmp_path / "cached/logits.json").read_text())["test"]
    lb = json.loads((tmp_path / "uncached/logits.json").read_text())["test"]
    assert max(abs(la[k] - lb[k]) for k in la) < 1e-4
    assert list((tmp_path / "cache").glob("*.safetensors"))  # the cache was written


def test_one_branch_missing_degrades(
    trained_workspace: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    m = _run(trained_workspace, tmp_path / "f", g=tmp_path / "no-such-gnn")
    assert m["degraded"] is True and m["branches"]["gnn"] is None
    assert json.loads((tmp_path / "f/metrics.json").read_text())["degraded"] is True
    assert "DEGRADED" in caplog.text
    spec = json.loads((tmp_path / "f/checkpoint.json").read_text())["model"]
    assert spec["gnn"] is None and spec["g_dim"] == 0


def test_both_missing_is_a_one_line_error(trained_workspace: Path, tmp_path: Path) -> None:
    with pytest.raises(StageError, match="both branch checkpoints are missing"):
        _run(trained_workspace, tmp_path / "f", t=tmp_path / "x", g=tmp_path / "y")
    res = run_script(
        "train_fusion.py",
        "--seed",
        "0",
        "--transformer-checkpoint",
        "nope1",
        "--gnn-checkpoint",
        "nope2",
        "--output-dir",
        str(tmp_path / "o"),
        cwd=trained_workspace,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error: fusion: both branch checkpoints")


def test_scheduler_flag_changes_the_lr_trace(trained_workspace: Path, tmp_path: Path) -> None:
    def lrs(name: str) -> list[str]:
        _run(
            trained_workspace,
            tmp_path / name,
            f"fusion.train.scheduler={name}",
            "fusion.train.epochs=4",
            "fusion.train.patience=0",
        )
        rows = (tmp_path / name / "history.csv").read_text().splitlines()
        col = rows[0].split(",").index("lr")
        return [r.split(",")[col] for r in rows[1:]]

    lin, cos = lrs("linear"), lrs("cosine")
    assert len(lin) == len(cos) == 4 and lin != cos
    assert float(cos[0]) > float(lin[0])  # after epoch 1 of 4: cosine 0.85 vs linear 0.75


def test_ema_changes_the_evaluated_weights(trained_workspace: Path, tmp_path: Path) -> None:
    _run(trained_workspace, tmp_path / "plain", "fusion.train.ema=false")
    _run(trained_workspace, tmp_path / "ema", "fusion.train.ema=true", "fusion.train.ema_decay=0.9")
    a = json.loads((tmp_path / "plain/logits.json").read_text())["valid"]
    b = json.loads((tmp_path / "ema/logits.json").read_text())["valid"]
    assert a != b


def test_quick_run_example_runs(trained_workspace: Path, tmp_path: Path) -> None:
    t, g = _branches(trained_workspace)
    res = run_script(
        "train_fusion.py",
        "--transformer-checkpoint",
        str(t / "model.safetensors"),
        "--gnn-checkpoint",
        str(g),
        "--model-name",
        "scratch",
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--scheduler",
        "cosine",
        "--amp-dtype",
        "bf16",
        "--grad-clip-norm",
        "1.0",
        "--pad-to-multiple-of",
        "8",
        "--output-dir",
        str(tmp_path / "quick"),
        "--cache-dir",
        str(tmp_path / "cache"),
        cwd=trained_workspace,
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    meta = json.loads((tmp_path / "quick/checkpoint.json").read_text())
    train = meta["config"]["fusion"]["train"]
    assert (
        train["epochs"],
        train["batch_size"],
        train["scheduler"],
        train["amp_dtype"],
        train["pad_to_multiple_of"],
    ) == (3, 16, "cosine", "bf16", 8)


def test_model_name_must_match_the_checkpoint(trained_workspace: Path, tmp_path: Path) -> None:
    t, g = _branches(trained_workspace)
    res = run_script(
        "train_fusion.py",
        "--transformer-checkpoint",
        str(t),
        "--gnn-checkpoint",
        str(g),
        "--model-name",
        "graphcodebert",
        "--output-dir",
        str(tmp_path / "o"),
        cwd=trained_workspace,
    )
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert "--model-name graphcodebert differs" in last and "model_name=scratch" in last


def test_preset_flag_selects_fusion_preset(trained_workspace: Path, tmp_path: Path) -> None:
    res = run_script(
        "train_fusion.py",
        "--seed",
        "1",
        "--preset",
        "fusion_high_recall",
        "--epochs",
        "1",
        "--output-dir",
        str(tmp_path / "hr"),
        "--cache-dir",
        str(tmp_path / "c"),
        cwd=trained_workspace,
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    train = json.loads((tmp_path / "hr/checkpoint.json").read_text())["config"]["fusion"]["train"]
    assert train["loss"] == "focal" and train["class_weight"] == "balanced" and train["epochs"] == 1
