"""report.summary (the headline metrics.json) and the per-track long-form histories."""

from __future__ import annotations

from pathlib import Path

import pytest

from vulnfusion.report import ReportError, history_rows, summary, write_history


def _row(f1: float, auc: float | None) -> dict[str, float | None]:
    return {
        "ensemble_f1": f1,
        "ensemble_roc_auc": auc,
        "ensemble_pr_auc": auc,
        "ensemble_accuracy": 0.5,
        "ensemble_threshold": 0.45,
        "test_ece_after": 0.05,
        "test_brier_after": 0.2,
        "temperature": None if auc is None else 1.5,  # absent: left out, like the AUCs
    }


def test_summary_exact_keys_values_and_no_nan() -> None:
    c = {
        "tracks": {
            "transformer": _row(0.6, 0.7),
            "gnn": _row(0.55, None),
            "fusion": _row(0.61234567, 0.8),
        },
        "targets": {"a": {"pass": True}, "b": {"pass": False}},
    }
    rest = {"accuracy": 0.5, "threshold": 0.45, "ece": 0.05, "brier": 0.2}
    assert summary(c) == {
        "transformer": {"f1": 0.6, "roc_auc": 0.7, "pr_auc": 0.7, **rest, "temperature": 1.5},
        "gnn": {"f1": 0.55, **rest},  # one-class split: no AUCs
        "fusion": {"f1": 0.612346, "roc_auc": 0.8, "pr_auc": 0.8, **rest, "temperature": 1.5},
        "targets_passed": 1,
        "targets_total": 2,
        "targets": {"a": 1, "b": 0},
    }


def _history(path: Path, rows: list[str]) -> None:
    path.parent.mkdir(parents=True)
    header = "epoch,train_loss,valid_loss,valid_f1,valid_best_threshold,lr\n"
    path.write_text(header + "".join(r + "\n" for r in rows))


def test_history_long_form_per_track(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    _history(
        out / "gnn/seed_0/history.csv", ["0,0.7,0.69,0.5,0.5,0.001", "1,0.6,0.65,0.55,0.4,0.001"]
    )
    _history(out / "gnn/seed_3/history.csv", ["0,0.71,0.7,0.45,0.5,0.001"])
    assert history_rows(out, "gnn", [0, 3, 5]) == [  # seed 5 has no history: no rows
        {"epoch": 0, "seed": 0, "valid_f1": 0.5, "train_loss": 0.7, "valid_loss": 0.69},
        {"epoch": 1, "seed": 0, "valid_f1": 0.55, "train_loss": 0.6, "valid_loss": 0.65},
        {"epoch": 0, "seed": 3, "valid_f1": 0.45, "train_loss": 0.71, "valid_loss": 0.7},
    ]
    write_history(tmp_path / "reports", out, {"transformer": [], "gnn": [0, 3], "fusion": [1]})
    assert (tmp_path / "reports/history/gnn.csv").read_text() == (
        "epoch,seed,valid_f1,train_loss,valid_loss\n"
        "0,0,0.5,0.7,0.69\n1,0,0.55,0.6,0.65\n0,3,0.45,0.71,0.7\n"
    )
    assert (tmp_path / "reports/history/fusion.csv").read_text() == (
        "epoch,seed,valid_f1,train_loss,valid_loss\n"
    )


def test_history_names_the_file_and_line_of_a_bad_row(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    bad = ["0,0.7,0.69,0.5,0.5,0.001", "1,0.6,0.65,oops,0.4,0"]
    _history(out / "gnn/seed_0/history.csv", bad)
    with pytest.raises(ReportError, match=r"gnn/seed_0/history.csv:3: bad or missing column"):
        history_rows(out, "gnn", [0])
