"""Every stage flag's ``--help`` shows its help text and the params.yaml value it defaults to."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.helpers import run_script, tiny_params


def _help(script: str, cwd: Path) -> str:
    res = run_script(script, "--help", cwd=cwd)
    assert res.returncode == 0, res.stderr
    return " ".join(res.stdout.split())  # argparse wraps lines: compare on one line


def test_branch_stage_help_shows_params_defaults(tmp_path: Path) -> None:
    params = tiny_params(gnn={"train": {"lr": 0.0123, "ema": True}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    text = _help("train_gnn.py", tmp_path)
    assert "--seed SEED the seed to train (params.yaml seeds: [0, 1])" in text
    assert "--epochs EPOCHS training epochs; default: 2 (params.yaml)" in text
    assert "--lr LR peak learning rate (AdamW); default: 0.0123 (params.yaml)" in text
    assert "--ema, --no-ema evaluate an exponential moving average of the weights; " in text
    assert "average of the weights; default: True (params.yaml)" in text
    assert "training loop (override gnn.train.* in params.yaml)" in text
    # every train flag: help text and a params.yaml default
    assert len(re.findall(r"; default: [^ ]+ \(params\.yaml\)", text)) == 20


def test_fusion_stage_help_shows_seed_and_preset_defaults(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    text = _help("train_fusion.py", tmp_path)
    assert "--seed SEED default: 0 (the first of params.yaml seeds [0, 1])" in text
    assert "--preset PRESET fusion preset; default: fusion_balanced" in text
    assert "--epochs EPOCHS training epochs; default: 2 (params.yaml)" in text
    assert "--features-dir FEATURES_DIR the featurize stage's output (default: data" in text


def test_help_without_params_file_shows_built_in_defaults(tmp_path: Path) -> None:
    text = _help("register.py", tmp_path)
    assert "--output OUTPUT where the name, version and alias are written (default: " in text
    assert "--params PARAMS params file (default: params.yaml)" in text
