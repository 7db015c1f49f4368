"""The ``compare`` stage: per-track seeds vs ensemble, fusion vs the best single branch, and
the two acceptance targets, measured on test and marked pass/fail (never assumed).

Targets:
* fusion lift — the fusion ensemble's test F1 is above the best single-branch ensemble's
  (the best branch picked by valid F1);
* ensemble lift — the fusion ensemble's test F1 is at least the best single seed's
  (picked by valid F1) + 0.5 F1 points.

Files (all under the reports directory unless said):
* ``metrics.json`` at the **project root** (``summary_path``) — the compact headline DVC's
  ``dvc exp show`` and ``dvc metrics diff`` lead with: per track the ensemble's test F1,
  ROC-AUC, PR-AUC, accuracy (at the valid-chosen threshold) and threshold, then the targets;
* ``comparison.json`` / ``comparison.md`` — the full comparison, with each track's
  calibration (temperature fitted on valid; test ECE and Brier before → after);
* ``history/<track>.csv`` — every seed's per-epoch history in long form (``epoch, seed,
  valid_f1, train_loss, valid_loss``), one DVC plot per track with the seeds overlaid;
* ``plots/*.png`` — the comparison figures (DVC image plots).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from vulnfusion.errors import VulnfusionError
from vulnfusion.io import read_json, write_json, write_text
from vulnfusion.metrics import Headline
from vulnfusion.paths import seed_dir
from vulnfusion.thresholds import decision_threshold

TRACKS = ("transformer", "gnn", "fusion")
ENSEMBLE_MARGIN = 0.005  # 0.5 F1 points
CLOSE_CALL = 0.005  # branches this close on valid F1: the "best branch" pick is a coin flip
DELTA_KEYS = {  # report key → track_row key
    "f1": "ensemble_f1",
    "accuracy_at_0_5": "ensemble_accuracy_at_0_5",
    "roc_auc": "ensemble_roc_auc",
    "pr_auc": "ensemble_pr_auc",
}


HISTORY_COLUMNS = ("epoch", "seed", "valid_f1", "train_loss", "valid_loss")


class ReportError(VulnfusionError):
    """An input of the comparison is missing or malformed (the message names the file)."""


def load_ensembles(outputs: Path) -> dict[str, dict[str, Any]]:
    """Each track's ``ensemble_metrics.json``; :class:`ReportError` names a missing one."""
    out = {}
    for t in TRACKS:
        p = outputs / t / "ensemble_metrics.json"
        if not p.exists():
            raise ReportError(f"{p}: missing (run aggregate@{t} first)")
        out[t] = read_json(p)
    return out


def track_row(m: dict[str, Any]) -> dict[str, Any]:
    """One track's row of the comparison, from its ``ensemble_metrics.json``."""
    h = Headline.from_report(m)
    d = m["ensemble_minus_best_seed_test_f1"]
    return {
        "seeds": m["seeds"],
        "seed_f1_mean": m["per_seed_mean_f1"],
        "seed_f1_std": m["per_seed_std_f1"],
        "ensemble_f1": h.test_f1,
        "ensemble_threshold": decision_threshold(m),
        "ensemble_accuracy": h.test_accuracy,
        "ensemble_accuracy_at_0_5": h.test_accuracy_at_0_5,
        "ensemble_roc_auc": h.test_roc_auc,
        "ensemble_pr_auc": h.test_pr_auc,
        "valid_f1": m["f1_at_best_threshold"],
        "best_seed": m["best_single_seed"]["seed"],
        "best_seed_f1": m["best_single_seed"]["test_f1"],
        "ensemble_minus_best_seed": d["diff"],
        "ensemble_minus_best_seed_ci": [d["low"], d["high"]],
        "degraded": m.get("degraded", False),
        **calibration_row(m),
    }


def calibration_row(m: dict[str, Any]) -> dict[str, Any]:
    """A track's calibration columns: ``temperature`` (fitted on valid) and the **test**
    ``ece_before``/``ece_after``/``brier_before``/``brier_after`` (``None`` for metrics
    written before calibration existed)."""
    c = m.get("calibration") or {}
    test = c.get("test") or {}
    return {
        "temperature": c.get("temperature"),
        **{
            f"test_{k}": test.get(k)
            for k in ("ece_before", "ece_after", "brier_before", "brier_after")
        },
    }


def calibration_markdown(tracks: dict[str, dict[str, Any]]) -> list[str]:
    """The calibration table of ``comparison.md`` (one row per track, test split)."""
    lines = [
        "",
        "Calibration (temperature T fitted on valid; test split, 15 equal-mass bins; "
        "probabilities and thresholds above are the calibrated sigmoid(logit / T)):",
        "",
        "| track | T | test ECE before → after | test Brier before → after |",
        "|---|---|---|---|",
    ]
    for t, r in tracks.items():
        lines.append(
            f"| {t} | {_fixed(r.get('temperature'), 3)} | {_fixed(r.get('test_ece_before'))} → "
            f"{_fixed(r.get('test_ece_after'))} | {_fixed(r.get('test_brier_before'))} → "
            f"{_fixed(r.get('test_brier_after'))} |"
        )
    return lines


def compare(ens: dict[str, dict[str, Any]]) -> dict[str, Any]:
    rows = {t: track_row(ens[t]) for t in TRACKS}
    branch = max(("transformer", "gnn"), key=lambda t: rows[t]["valid_f1"])  # chosen on valid
    fusion = rows["fusion"]
    lift = fusion["ensemble_f1"] - rows[branch]["ensemble_f1"]
    ens_lift = fusion["ensemble_minus_best_seed"]
    valid_gap = abs(rows["transformer"]["valid_f1"] - rows["gnn"]["valid_f1"])
    return {
        "tracks": rows,
        "fusion_vs_best_branch": {
            "best_branch": branch,
            "best_branch_f1": rows[branch]["ensemble_f1"],
            "fusion_f1": fusion["ensemble_f1"],
            "delta_f1": lift,
            "branches_valid_f1_gap": valid_gap,
            "close_call": valid_gap < CLOSE_CALL,
        },
        # the target uses the valid-chosen branch; users also see fusion against each one
        "fusion_vs_each_branch": {
            b: {k: _delta(fusion[v], rows[b][v]) for k, v in DELTA_KEYS.items()}
            for b in ("transformer", "gnn")
        },
        "targets": {
            "fusion_lifts_over_best_branch": {
                "measured": lift,
                "required": "> 0",
                "pass": lift > 0,
            },
            "ensemble_beats_best_seed_by_0_5pt": {
                "measured": ens_lift,
                "required": f">= {ENSEMBLE_MARGIN}",
                "pass": ens_lift >= ENSEMBLE_MARGIN,
            },
        },
        "all_targets_pass": lift > 0 and ens_lift >= ENSEMBLE_MARGIN,
    }


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _signed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4f}"


def _fixed(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def to_markdown(c: dict[str, Any]) -> str:
    lines = [
        "# vulnfusion: seeds, ensembles and fusion (test split; thresholds chosen on valid)",
        "",
        "| track | seeds F1 (mean ± std) | ensemble F1 | Δ vs best seed [95% CI] "
        "| acc@0.5 | ROC-AUC | PR-AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for t, r in c["tracks"].items():
        lo, hi = r["ensemble_minus_best_seed_ci"]
        lines.append(
            f"| {t}{' (degraded)' if r['degraded'] else ''} | {_fixed(r['seed_f1_mean'])} ± "
            f"{_fixed(r['seed_f1_std'])} | {_fixed(r['ensemble_f1'])} | "
            f"{r['ensemble_minus_best_seed']:+.4f} "
            f"[{lo:+.4f}, {hi:+.4f}] | {_fixed(r['ensemble_accuracy_at_0_5'])} | "
            f"{_fixed(r['ensemble_roc_auc'])} | {_fixed(r['ensemble_pr_auc'])} |"
        )
    fv = c["fusion_vs_best_branch"]
    lines += [
        "",
        f"Fusion vs best single branch ({fv['best_branch']}, chosen on valid): "
        f"{_fixed(fv['fusion_f1'])} vs {_fixed(fv['best_branch_f1'])} (Δ {fv['delta_f1']:+.4f})",
    ]
    if fv["close_call"]:
        lines.append(
            f"(close call: the branches' valid F1 differ by {fv['branches_valid_f1_gap']:.4f}; "
            "read the per-branch table below)"
        )
    lines += [
        "",
        "| fusion minus | ΔF1 | Δacc@0.5 | ΔROC-AUC | ΔPR-AUC |",
        "|---|---|---|---|---|",
    ]
    for b, d in c["fusion_vs_each_branch"].items():
        lines.append(
            f"| {b} | {_signed(d['f1'])} | {_signed(d['accuracy_at_0_5'])} | "
            f"{_signed(d['roc_auc'])} | {_signed(d['pr_auc'])} |"
        )
    lines += calibration_markdown(c["tracks"])
    lines += [
        "",
        "| acceptance target | measured | required | result |",
        "|---|---|---|---|",
    ]
    for name, t in c["targets"].items():
        lines.append(
            f"| {name} | {t['measured']:+.4f} | {t['required']} | "
            f"{'PASS' if t['pass'] else 'FAIL'} |"
        )
    lines += localization_lines(c.get("localization"))
    return "\n".join(lines) + "\n"


LOCALIZATION_FILE = "localization.json"  # the localize stage's output, in the reports dir


def localization_lines(loc: dict[str, Any] | None) -> list[str]:
    """The markdown section for the ``localize`` stage's result (``[]`` without one):
    LineVul's Top-10 accuracy and IFA of the fusion ensemble beside the two floors."""
    if not loc or not loc.get("functions"):
        return []
    k = loc.get("k", 10)
    rows = [(f"fusion ensemble, {name}", m) for name, m in loc["methods"].items()]
    rows += [(f"floor: {name}", m) for name, m in loc["floors"].items()]
    lines = [
        "",
        f"## Line localisation ({loc.get('split', 'test')} split, "
        f"{loc['functions']} flawed functions with labelled lines)",
        "",
        f"| ranking | Top-{k} acc | Top-1 acc | IFA mean | IFA median | ms/function |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        ms = m.get("ms_per_function")
        lines.append(
            f"| {name} | {_fixed(m.get(f'top{k}_accuracy'), 3)} | "
            f"{_fixed(m.get('top1_accuracy'), 3)} | {_fixed(m.get('ifa_mean'), 2)} | "
            f"{_fixed(m.get('ifa_median'), 1)} | {'' if ms is None else f'{ms:.0f}'} |"
        )
    lines += [
        "",
        "IFA: clean lines inspected before the first flawed one (lower is better); random "
        "floor: exact expectation over line orders; keyword floor: lines with memcpy/strcpy/"
        "strcat/sprintf/free/indexing first.",
    ]
    return lines


def summary(c: dict[str, Any]) -> dict[str, Any]:
    """The compact headline of a comparison (``metrics.json``): per track the ensemble's test
    ``f1``, ``roc_auc``, ``pr_auc``, ``accuracy`` (at the valid-chosen ``threshold``), test
    ``ece`` and ``brier`` after calibration and its ``temperature``, then
    ``targets_passed`` / ``targets_total`` and each target as 0/1. AUCs undefined on a
    one-class split are left out (DVC shows ``-``), never written as NaN."""
    out: dict[str, Any] = {}
    for t, r in c["tracks"].items():
        row = {
            "f1": r["ensemble_f1"],
            "roc_auc": r["ensemble_roc_auc"],
            "pr_auc": r["ensemble_pr_auc"],
            "accuracy": r["ensemble_accuracy"],
            "threshold": r["ensemble_threshold"],
            # calibration (issue 16): test ECE / Brier after temperature scaling, and T
            "ece": r.get("test_ece_after"),
            "brier": r.get("test_brier_after"),
            "temperature": r.get("temperature"),
        }
        out[t] = {k: round(float(v), 6) for k, v in row.items() if _finite(v)}
    targets = c["targets"]
    out["targets_passed"] = sum(bool(t["pass"]) for t in targets.values())
    out["targets_total"] = len(targets)
    out["targets"] = {name: int(bool(t["pass"])) for name, t in targets.items()}
    return out


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(float(v))


def history_rows(outputs: Path, track: str, seeds: list[int]) -> list[dict[str, Any]]:
    """Every seed's ``history.csv`` of ``track`` as long-form rows (:data:`HISTORY_COLUMNS`);
    a seed without history (e.g. zero epochs) contributes none. :class:`ReportError` names
    a history file that lacks a column."""
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        path = seed_dir(outputs, track, seed) / "history.csv"
        if not path.exists():
            continue
        with path.open(newline="") as fh:
            for line, rec in enumerate(csv.DictReader(fh), start=2):
                try:
                    rows.append(
                        {
                            "epoch": int(float(rec["epoch"])),
                            "seed": seed,
                            **{k: float(rec[k]) for k in HISTORY_COLUMNS[2:]},
                        }
                    )
                except (KeyError, TypeError, ValueError) as e:
                    raise ReportError(f"{path}:{line}: bad or missing column ({e})") from None
    return rows


def write_history(reports: Path, outputs: Path, seeds: dict[str, list[int]]) -> None:
    """``reports/history/<track>.csv`` for every track (see :func:`history_rows`)."""
    for t in TRACKS:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(history_rows(outputs, t, seeds[t]))
        write_text(reports / "history" / f"{t}.csv", buf.getvalue())


def write_comparison(
    outputs: Path, reports: Path, summary_path: Path | None = None
) -> dict[str, Any]:
    """Write ``comparison.{md,json}``, the per-track histories, the plots and (when
    ``summary_path`` is given) the headline ``metrics.json``; return the comparison dict."""
    from vulnfusion.plots import plot_fusion_vs_branches, plot_seed_vs_ensemble

    c = compare(load_ensembles(outputs))
    if (reports / LOCALIZATION_FILE).exists():  # the localize stage ran (dvc.yaml: a dep)
        c["localization"] = read_json(reports / LOCALIZATION_FILE)
    write_history(reports, outputs, {t: list(c["tracks"][t]["seeds"]) for t in TRACKS})
    plots = reports / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    plot_seed_vs_ensemble(
        {
            t: {
                "seed_f1": per_seed_test_f1(outputs, t),
                "ensemble_f1": c["tracks"][t]["ensemble_f1"],
            }
            for t in TRACKS
        },
        plots / "seed_vs_ensemble.png",
    )
    plot_fusion_vs_branches(
        {t: c["tracks"][t]["ensemble_f1"] for t in TRACKS}, plots / "fusion_vs_branches.png"
    )
    write_json(reports / "comparison.json", c)
    write_text(reports / "comparison.md", to_markdown(c))
    if summary_path is not None:
        write_json(summary_path, summary(c))
    return c


def per_seed_test_f1(outputs: Path, track: str) -> list[float]:
    """Each seed's test F1 (at its own valid-chosen threshold), from the track's ensemble."""
    return list(read_json(outputs / track / "ensemble_metrics.json")["per_seed_test_f1"])
