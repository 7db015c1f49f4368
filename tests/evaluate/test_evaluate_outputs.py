"""Where ``evaluate`` writes, found by a fresh user's trial (session 21): an interrupted run
leaves no half of a report, a user's other files in ``-o`` survive, and a summary that
cannot be printed is noted without losing the report (real model, real files, real process
for the closed descriptor)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.evaluate.conftest import RegisteredModel
from vulnfusion.console import main

VULNFUSION = Path(sys.executable).parent / "vulnfusion"
GOOD = "int f(char *s) { char b[8]; strcpy(b, s); return 0; }"
FIXED = "int f(char *s) { char b[8]; strncpy(b, s, 7); b[7] = 0; return 0; }"


def _data(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"func": GOOD, "target": 1, "pair_id": "a"},
        {"func": FIXED, "target": 0, "pair_id": "a"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _args(model: RegisteredModel, data: Path, out: Path) -> list[str]:
    return ["evaluate", str(data), "--model", str(model.local_dir), "--no-mlflow",
            "--n-boot", "100", "--no-progress", "-o", str(out)]  # fmt: skip


def test_an_interrupted_evaluation_leaves_the_output_as_it_was(
    registered_model: RegisteredModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C while the figures are drawn (after predictions.jsonl is written) used to
    leave predictions.jsonl and an empty figures/ without evaluation.json. Now the files are
    staged beside the output and moved in at the end: the user's file stays, nothing of the
    run appears, no staging directory is left."""
    from vulnfusion.evaluation import plots

    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep\n")

    def interrupted(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "write_figures", interrupted)
    res = CliRunner().invoke(main, _args(registered_model, _data(tmp_path), out))
    assert res.exit_code == 130
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "pairs.jsonl"]
    monkeypatch.undo()
    res = CliRunner().invoke(main, _args(registered_model, _data(tmp_path), out))
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "evaluation.json", "evaluation.md", "figures", "mine.txt", "predictions.jsonl"
    ]  # fmt: skip


def test_a_closed_standard_output_only_skips_the_summary(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        ["/bin/sh", "-c", '"$0" "$@" >&-', str(VULNFUSION),
         *_args(registered_model, _data(tmp_path), out)],
        stderr=subprocess.PIPE, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "vulnfusion: notice: summary not printed (standard output is closed)",
        f"vulnfusion: wrote {out}",
    ]
    assert json.loads((out / "evaluation.json").read_text())["data"]["n_read"] == 2
