"""Fusion: cached vs uncached parity, degrade paths, flags honoured, the quick-run example."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import run_script
from vulnfusion.checkpoints import WEIGHTS
from vulnfusion.config import load_config
from vulnfusion.errors import StageError
from vulnfusion.features import load_split
from vulnfusion.runs.fusion import train_fusion

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


def _history(out: Path, column: str) -> list[float]:
    rows = (out / "history.csv").read_text().splitlines()
    col = rows[0].split(",").index(column)
    return [float(r.split(",")[col]) for r in rows[1:]]


def test_scheduler_flag_sets_the_lr_trace(trained_workspace: Path, tmp_path: Path) -> None:
    # 128 train rows / batch 64 = 2 steps an epoch, 8 in 4 epochs; warmup int(0.1 * 8) = 0.
    # The lr logged after epoch k is lr * factor(2k / 8): linear 1 - p, cosine (1 + cos πp) / 2.
    assert len(load_split(trained_workspace / "data/features/train.safetensors")) == 128

    def lrs(name: str) -> list[float]:
        over = ("fusion.train.epochs=4", "fusion.train.patience=0", "fusion.train.lr=0.001")
        _run(trained_workspace, tmp_path / name, f"fusion.train.scheduler={name}", *over)
        return _history(tmp_path / name, "lr")

    c = math.cos(math.pi / 4)
    linear = [0.75e-3, 0.5e-3, 0.25e-3, 0.0]
    cosine = [(1 + c) / 2 * 1e-3, 0.5e-3, (1 - c) / 2 * 1e-3, 0.0]
    assert lrs("linear") == pytest.approx(linear, rel=1e-5, abs=1e-12)
    assert lrs("cosine") == pytest.approx(cosine, rel=1e-5, abs=1e-12)


def test_ema_evaluates_the_moving_average_of_the_trained_weights(
    trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With EMA on, the shipped weights are s_t = d·s_(t-1) + (1-d)·w_t over the training
    weights w_t after each step (s_0 = the initial weights), taken at the best epoch; the
    training itself is step for step the run without EMA."""
    import vulnfusion.training as training

    first: dict[str, torch.Tensor] = {}
    steps: list[dict[str, torch.Tensor]] = []  # the training weights after every step
    real_init, real_update = training.EMA.__init__, training.EMA.update

    def spy_init(self: training.EMA, model: torch.nn.Module, decay: float) -> None:
        first.update({k: v.detach().double().clone() for k, v in model.state_dict().items()})
        real_init(self, model, decay)

    def spy_update(self: training.EMA, model: torch.nn.Module) -> None:
        steps.append({k: v.detach().double().clone() for k, v in model.state_dict().items()})
        real_update(self, model)

    monkeypatch.setattr(training.EMA, "__init__", spy_init)
    monkeypatch.setattr(training.EMA, "update", spy_update)
    over = ("fusion.train.epochs=4", "fusion.train.patience=0")
    plain = _run(trained_workspace, tmp_path / "plain", "fusion.train.ema=false", *over)
    ema = _run(
        trained_workspace,
        tmp_path / "ema",
        "fusion.train.ema=true",
        "fusion.train.ema_decay=0.9",
        *over,
    )
    assert len(steps) == 8  # 2 steps an epoch (see the scheduler test), 4 epochs
    assert _history(tmp_path / "ema", "train_loss") == _history(tmp_path / "plain", "train_loss")

    shadow = dict(first)
    for w in steps[: 2 * (ema["best_epoch"] + 1)]:
        shadow = {k: 0.9 * shadow[k] + 0.1 * w[k] for k in shadow}
    saved = load_file(str(tmp_path / "ema" / WEIGHTS))
    assert set(saved) == set(shadow)
    for k, v in saved.items():
        torch.testing.assert_close(v.double(), shadow[k], rtol=1e-5, atol=1e-6)
    # without EMA the shipped weights are the training weights at that run's best epoch
    raw = steps[2 * (plain["best_epoch"] + 1) - 1]
    for k, v in load_file(str(tmp_path / "plain" / WEIGHTS)).items():
        torch.testing.assert_close(v.double(), raw[k], rtol=1e-6, atol=1e-7)


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
