"""DVC experiments compare, plots render offline, outputs restore: two real experiments of
the tiny pipeline in a git + DVC repo in tmp_path (issue 13, items 1, 2 and 7).

The first experiment is the session's shared `mlflow run . -e main` (``main_experiment``, a
`dvc exp run` with the default fusion preset), taken as a copy before any other test touched
it; the second, ``recall``, is a `dvc exp run -S fusion.preset=fusion_high_recall` here."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import sh
from tests.pipeline.conftest import MainExperiment

# one worker builds the session fixture `main_experiment` both modules read
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("main_experiment")]

TRACKS = ("transformer", "gnn", "fusion")
TRACK_KEYS = {"f1", "roc_auc", "pr_auc", "accuracy", "threshold", "ece", "brier", "temperature"}
TOP_KEYS = {*TRACKS, "targets_passed", "targets_total", "targets"}
RECALL = ["-S", "fusion.preset=fusion_high_recall"]


@dataclass(frozen=True)
class Exps:
    root: Path
    base: str  # the name DVC gave the `main` experiment
    recall: str = "recall"

    @property
    def names(self) -> list[str]:
        return [self.base, self.recall]


@pytest.fixture(scope="module")
def two_exps(main_experiment: MainExperiment) -> Exps:
    (base,) = main_experiment.experiments
    root = main_experiment.copy
    sh(["dvc", "exp", "run", "-n", "recall", *RECALL], root, timeout=1800)
    return Exps(root, base)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _exp_rows(exps: Exps) -> dict[str, dict[str, Any]]:
    """name → the ``dvc exp show --json`` record of that experiment (rev + data)."""
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], exps.root).stdout)
    return {n["name"]: n for n in _walk(shown) if n.get("name") in exps.names and "data" in n}


def _committed(root: Path, rev: str, path: str) -> str:
    return sh(["git", "show", f"{rev}:{path}"], root).stdout


def _check_headline(m: dict[str, Any]) -> None:
    assert set(m) == TOP_KEYS, sorted(m)
    for t in TRACKS:
        assert set(m[t]) == TRACK_KEYS, (t, sorted(m[t]))
        assert all(math.isfinite(v) for v in m[t].values()), m[t]
        assert 0.0 <= m[t]["f1"] <= 1.0 and 0.0 <= m[t]["accuracy"] <= 1.0
    assert m["targets_total"] == 2 and m["targets_passed"] == sum(m["targets"].values())


def test_exp_show_leads_with_the_committed_headline(two_exps: Exps) -> None:
    rows = _exp_rows(two_exps)
    assert sorted(rows) == sorted(two_exps.names)
    for row in rows.values():
        metrics = row["data"]["metrics"]
        assert next(iter(metrics)) == "metrics.json", list(metrics)  # the first columns
        shown = metrics["metrics.json"]["data"]
        _check_headline(shown)
        # the experiment's own commit holds exactly the figures exp show reports
        assert json.loads(_committed(two_exps.root, row["rev"], "metrics.json")) == shown
        # per-seed detail is committed too (not `!`); DVC shows its numbers, not its lists
        seed0 = metrics["outputs/fusion/seed_0/metrics.json"]["data"]
        committed = json.loads(
            _committed(two_exps.root, row["rev"], "outputs/fusion/seed_0/metrics.json")
        )
        for key in ("f1_at_0_5", "f1_at_best_threshold", "best_threshold_by_f1"):
            assert seed0[key] == committed[key], key
        assert seed0["test"]["roc_auc"] == committed["test"]["roc_auc"]
    params = {
        n: r["data"]["params"]["params.yaml"]["data"]["fusion"]["preset"] for n, r in rows.items()
    }
    assert params["recall"] == "fusion_high_recall"
    assert params[two_exps.base] != "fusion_high_recall"


def test_metrics_diff_between_the_two_experiments(two_exps: Exps) -> None:
    rows, root, base = _exp_rows(two_exps), two_exps.root, two_exps.base
    files = {n: json.loads(_committed(root, r["rev"], "metrics.json")) for n, r in rows.items()}
    cmd = ["dvc", "metrics", "diff", base, "recall", "--all", "--json"]
    out = sh([*cmd, "--targets", "metrics.json"], root).stdout
    diff = json.loads(out)["metrics.json"]
    expected = {f"{t}.{k}" for t in TRACKS for k in TRACK_KEYS} | {
        "targets_passed",
        "targets_total",
        *(f"targets.{k}" for k in files[base]["targets"]),
    }
    assert set(diff) == expected
    for key, d in diff.items():
        old, new = files[base], files["recall"]
        for part in key.split("."):
            old, new = old[part], new[part]
        assert (d["old"], d["new"]) == (old, new), key
    # the human table names the fusion F1 row
    table = sh(["dvc", "metrics", "diff", base, "recall", "--all"], root).stdout
    assert "fusion.f1" in table


def test_plots_render_offline(two_exps: Exps) -> None:
    root = two_exps.root
    out = root.parent / "plots_html"
    sh(["dvc", "plots", "show", "-o", str(out)], root)
    html = (out / "index.html").read_text()
    assert not re.search(r"<script[^>]+src\s*=\s*[\"']?https?://", html)
    assert "cdn.jsdelivr" not in html
    assert "vegaEmbed" in html and html.count("<script>") >= 3  # inlined libraries
    for t in TRACKS:  # one seeds-overlaid chart per track, images of the figures
        assert f"valid_f1_{t}" in html
        assert f"outputs_{t}_ensemble_figures_confusion_matrix_at_best_threshold" in html or (
            f"{t}/ensemble/figures/confusion_matrix_at_best_threshold.png" in html
        )
    assert "fusion_vs_branches" in html
    diff_out = root.parent / "plots_diff"
    sh(["dvc", "plots", "diff", two_exps.base, "recall", "-o", str(diff_out)], root)
    assert "cdn.jsdelivr" not in (diff_out / "index.html").read_text()


def test_outputs_restore_after_deletion(two_exps: Exps) -> None:
    """Item 7: every output is restorable from the cache (no `cache: false` except metrics
    and plot data, which git holds)."""
    root = two_exps.root
    gone = [root / "outputs/gnn/manifests", root / "reports/comparison.json"]
    shutil.rmtree(gone[0])
    gone[1].unlink()
    sh(["dvc", "checkout"], root)
    assert all(p.exists() for p in gone)
    status = sh(["dvc", "status"], root).stdout
    assert status.strip() == "Data and pipelines are up to date.", status
