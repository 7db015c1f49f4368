"""Figures: valid, non-trivial PNGs, written atomically, with no figures left open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest

from vulnfusion import metrics, plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# (height, width) in pixels: figure inches x 120 dpi (plots._DPI); the seed and fusion figures
# widen with the number of bars (3 tracks here)
SHAPES = {"confusion": (480, 552), "threshold": (480, 720), "seeds": (480, 816),
          "fusion": (480, 648)}  # fmt: skip


def _sweep() -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.3).astype(int)
    return metrics.threshold_sweep(y, metrics.sigmoid(rng.normal(size=500) + y))


def _calls() -> dict[str, Callable[[Path], Path]]:
    sweep = _sweep()
    per_track = {
        "transformer": {"seed_f1": [0.55, 0.57, 0.56], "ensemble_f1": 0.59},
        "gnn": {"seed_f1": [0.50, 0.52], "ensemble_f1": 0.53},
        "fusion": {"seed_f1": [0.60], "ensemble_f1": 0.61},
    }
    return {
        "confusion": lambda p: plots.plot_confusion_matrix([[50, 10], [5, 35]], "valid", p),
        "threshold": lambda p: plots.plot_threshold_curve(
            sweep, metrics.best_threshold(sweep), p, title="t"
        ),
        "seeds": lambda p: plots.plot_seed_vs_ensemble(per_track, p),
        "fusion": lambda p: plots.plot_fusion_vs_branches(
            {"transformer": 0.58, "gnn": 0.53, "fusion": 0.61}, p
        ),
    }


# (height, width) in pixels: each figure's size in inches at 120 dpi; the bar charts widen
# with their bars (three tracks: 1.6 × 3 + 2.0 = 6.8 in; three bars: 1.3 × 3 + 1.5 = 5.4 in).


@pytest.fixture(autouse=True)
def _no_open_figures() -> Any:
    plt.close("all")
    yield
    assert plt.get_fignums() == []


@pytest.mark.parametrize("name", list(_calls()))
def test_writes_a_valid_png(name: str, tmp_path: Path) -> None:
    target = tmp_path / "sub" / f"{name}.png"
    out = _calls()[name](target)
    assert out == target
    data = target.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000
    image = plt.imread(target)
    assert image.shape[:2] == SHAPES[name]
    assert image[..., :3].std() > 0.05  # something was drawn, not a blank canvas
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp left behind
    assert plt.get_fignums() == []


@pytest.mark.parametrize("name", list(_calls()))
def test_overwrites_existing_file(name: str, tmp_path: Path) -> None:
    target = tmp_path / f"{name}.png"
    target.write_bytes(b"old")
    _calls()[name](target)
    assert target.read_bytes()[:8] == PNG_MAGIC
    assert len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: plots.plot_confusion_matrix([[1, 2, 3]], "x", p), "2x2"),
        (lambda p: plots.plot_confusion_matrix([[1, -2], [3, 4]], "x", p), "non-negative"),
        (lambda p: plots.plot_threshold_curve([], 0.5, p), "empty"),
        (lambda p: plots.plot_threshold_curve([{"threshold": 0.5}], 0.5, p), "missing"),
        (lambda p: plots.plot_seed_vs_ensemble({}, p), "empty"),
        (lambda p: plots.plot_seed_vs_ensemble({"gnn": {"seed_f1": [0.5]}}, p), "ensemble_f1"),
        (
            lambda p: plots.plot_seed_vs_ensemble({"gnn": {"seed_f1": [], "ensemble_f1": 1}}, p),
            "non-empty",
        ),
        (lambda p: plots.plot_fusion_vs_branches({"gnn": 0.5}, p), "fusion"),
        (lambda p: plots.plot_fusion_vs_branches({"fusion": 0.5}, p), "branch"),
    ],
)
def test_rejects_bad_input_without_writing(call: Any, match: str, tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    with pytest.raises(ValueError, match=match):
        call(target)
    assert list(tmp_path.iterdir()) == []


def test_fusion_plot_accepts_a_single_branch(tmp_path: Path) -> None:
    out = plots.plot_fusion_vs_branches({"gnn": 0.5, "fusion": 0.55}, tmp_path / "f.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
