"""Every ``dvc exp run -S key=value`` the README shows works on the shipped params.yaml.

``-S`` runs DVC's own override code, which refuses a key that params.yaml does not write
(``Could not override 'x'``): the restructured file must keep every documented key.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from vulnfusion.config import load_config

ROOT = Path(__file__).resolve().parents[2]
dvc_hydra = pytest.importorskip("dvc.utils.hydra")


def readme_commands() -> list[list[str]]:
    """The ``-S`` lists of every ``dvc exp run`` in README.md (in code spans and blocks)."""
    out = []
    for line in (ROOT / "README.md").read_text().splitlines():
        for cmd in re.findall(r"dvc exp run((?:\s+(?:--[a-z-]+|-S\s+[^\s`]+))+)", line):
            sets = re.findall(r"-S\s+([^\s`]+)", cmd)
            # the prose's placeholder (`-S key=value`) and its deliberate typo (`devgin`,
            # shown to explain the one-line rejection) are not commands to run
            if sets and not any(s in ("key=value", "preset=devgin") for s in sets):
                out.append(sets)
    return out


COMMANDS = readme_commands()


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def test_readme_lists_the_documented_commands() -> None:
    flat = {s for sets in COMMANDS for s in sets}
    assert {
        "preset=devign",
        "preset=devign_gpu",
        "fusion.preset=fusion_high_recall",
        "fusion.preset=fusion_gpu",
        "gnn.train.epochs=12",
        "transformer.train.ema=true",
        "split.strategy=cross_project",
    } <= flat


@pytest.mark.parametrize("sets", COMMANDS, ids=[" ".join(s) for s in COMMANDS])
def test_readme_set_params_apply_and_resolve(tmp_path: Path, sets: list[str]) -> None:
    p = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", p)
    dvc_hydra.apply_overrides(str(p), sets)  # raises if params.yaml lacks a key
    cfg = load_config(p)
    for item in sets:
        key, _, text = item.partition("=")
        want = yaml.safe_load(text)
        key = _effective(cfg, key.lstrip("+"))  # +key: DVC's "add a key the file lacks"
        if key:
            assert _get(cfg, key) == (tuple(want) if isinstance(want, list) else want), item


def _effective(cfg: Any, key: str) -> str:
    """``presets.devign.gnn.train.epochs`` → ``gnn.train.epochs`` when devign is chosen, else ""."""
    for section, chosen in (("fusion.", cfg.fusion.preset), ("", cfg.preset)):
        head = f"{section}presets."
        if key.startswith(head):
            name, _, rest = key[len(head) :].partition(".")
            return f"{section}{rest}" if name == chosen else ""
    return key


def test_a_shared_key_is_set_for_every_track_with_dvc(tmp_path: Path) -> None:
    p = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", p)
    dvc_hydra.apply_overrides(str(p), ["train.patience=0", "+gnn.train.patience=2"])
    cfg = load_config(p)
    assert (cfg.transformer.train.patience, cfg.gnn.train.patience, cfg.fusion.train.patience) == (
        0, 2, 0,
    )  # fmt: skip


@pytest.mark.slow
def test_real_dvc_exp_run_with_an_exponent_float(tmp_path: Path) -> None:
    """``dvc exp run -S transformer.train.lr=1e-5`` end to end: DVC writes ``lr: 1e-05``."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    code = (
        "import json; from vulnfusion.config import load_config; c = load_config(); "
        "json.dump([c.transformer.train.lr, c.gnn.train.epochs], open('out.json', 'w'))"
    )
    stage = {
        "cmd": f'{sys.executable} -c "{code}"',
        "params": ["transformer.train.lr", "gnn.train.epochs"],
        "outs": [{"out.json": {"cache": False}}],
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"show": stage}}))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost",
    }  # fmt: skip
    dvc = str(Path(sys.executable).with_name("dvc"))
    for cmd in (
        ["git", "init", "-q"],
        [dvc, "init", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "init"],
        [dvc, "exp", "run", "-S", "transformer.train.lr=1e-5", "-S", "gnn.train.epochs=12"],
    ):
        res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert res.returncode == 0, (cmd, res.stdout[-2000:], res.stderr[-2000:])
    assert "lr: 1e-05" in (tmp_path / "params.yaml").read_text()
    assert json.loads((tmp_path / "out.json").read_text()) == [1e-05, 12]
